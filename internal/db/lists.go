package db

import (
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/user"
)

// A user's clinic ids and permission keys can be read with the user's row,
// in the same statement, as texts that join them (authentication reads a
// viewer so, an activation its target): one statement instead of three.

// listSeparator joins a list's items. Neither clinic ids nor permission
// keys (VIEW_USERS, ...) contain it.
const listSeparator = ","

// JoinedList is an aggregate joining column's values into one text:
// PostgreSQL's string_agg, SQLite's group_concat. SplitList and SplitIDs
// read it back.
func JoinedList(dialectName, column string) string {
	join := "string_agg"
	if dialectName == dialect.SQLite {
		join = "group_concat"
	}
	return join + "(CAST(" + column + " AS TEXT), '" + listSeparator + "')"
}

// UserLists are subqueries of the clinic ids and the permission keys of the
// user whose id is in userIDColumn, each joined into one text (NULL when
// there are none).
func UserLists(dialectName, userIDColumn string) (clinicIDs, permissionKeys *entsql.Selector) {
	b := entsql.Dialect(dialectName)
	uc := b.Table(user.ClinicsTable).As("uc")
	clinicIDs = b.Select().SelectExpr(entsql.Expr(JoinedList(dialectName, uc.C(user.ClinicsPrimaryKey[1])))).From(uc).
		Where(entsql.ColumnsEQ(uc.C(user.ClinicsPrimaryKey[0]), userIDColumn))
	up, p := b.Table(user.PermissionsTable).As("up"), b.Table(permission.Table).As("p")
	permissionKeys = b.Select().SelectExpr(entsql.Expr(JoinedList(dialectName, p.C(permission.FieldKey)))).From(up).
		Join(p).On(up.C(user.PermissionsPrimaryKey[1]), p.C(permission.FieldID)).
		Where(entsql.ColumnsEQ(up.C(user.PermissionsPrimaryKey[0]), userIDColumn))
	return clinicIDs, permissionKeys
}

// SplitList reads a JoinedList text ("": none).
func SplitList(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, listSeparator)
}

// SplitIDs reads a JoinedList text of ids.
func SplitIDs(list string) ([]int, error) {
	parts := SplitList(list)
	ids := make([]int, len(parts))
	for i, part := range parts {
		id, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("reading a list of ids: %w", err)
		}
		ids[i] = id
	}
	return ids, nil
}
