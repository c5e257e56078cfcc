package apitest_test

// API tests of staff-list imports (issue #13 point 3): importUsers creates
// exactly the good rows of a file through createUser's rules and reports
// every bad row's errors; a dry run writes nothing; a restart mid-file
// (progress not committed) creates nobody twice; an export imports back
// unchanged; hostile CSV gets row errors, never an internal error.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/ent/userimport"
	"github.com/clinicemr/usermanager/ent/userimporterror"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/staffimport"
)

const impMutation = `mutation($in: ImportUsersInput!) {
  importUsers(input: $in) { userImport { id status rowsTotal dryRun } userErrors { field code message } }
}`

// impUpload sends importUsers with file through the GraphQL multipart
// request specification: the payload's fields, or the GraphQL errors.
func impUpload(t testing.TB, env *apitest.Env, c *apitest.Client, file []byte, dry bool) (map[string]any, []any, int) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{
		"query":     impMutation,
		"variables": map[string]any{"in": map[string]any{"file": nil, "dryRun": dry}},
	})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.in.file"]}`)
	fw, _ := mw.CreateFormFile("0", "staff.csv")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data   map[string]map[string]any
		Errors []any
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, []any{string(raw)}, res.StatusCode
	}
	return out.Data["importUsers"], out.Errors, res.StatusCode
}

// impStart imports file and returns the import's ID.
func impStart(t testing.TB, env *apitest.Env, c *apitest.Client, file []byte, dry bool) string {
	t.Helper()
	p, errs, status := impUpload(t, env, c, file, dry)
	if len(errs) > 0 || p == nil {
		t.Fatalf("importUsers: status %d, errors %v", status, errs)
	}
	if ue := p["userErrors"].([]any); len(ue) > 0 {
		t.Fatalf("importUsers: userErrors %v", ue)
	}
	imp := p["userImport"].(map[string]any)
	if imp["status"] != "QUEUED" {
		t.Errorf("a new import is %v, want QUEUED", imp["status"])
	}
	return imp["id"].(string)
}

type impRowError struct {
	Row                   int
	Column, Code, Message string
}

type impState struct {
	Status                               string
	RowsTotal, RowsDone, Created, Failed int
	Error                                *string
	RowErrors                            []impRowError
}

const impQuery = `query($id: ID!) { node(id: $id) { ... on UserImport {
  status rowsTotal rowsDone created failed error
  rowErrors(first: 100) { totalCount edges { node { row column code message } } }
} } }`

// impWait polls the import until it COMPLETED or FAILED.
func impWait(t testing.TB, c *apitest.Client, id string) impState {
	t.Helper()
	return impWaitFor(t, c, id, 90*time.Second)
}

// impWaitFor is impWait giving up after limit.
func impWaitFor(t testing.TB, c *apitest.Client, id string, limit time.Duration) impState {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var out struct {
			Node *struct {
				impState
				RowErrors struct {
					Edges []struct{ Node impRowError }
				}
			}
		}
		c.MustDo(impQuery, map[string]any{"id": id}, &out)
		if out.Node == nil {
			t.Fatalf("node(%s) is null", id)
		}
		if s := out.Node.Status; s == "COMPLETED" || s == "FAILED" {
			st := out.Node.impState
			for _, e := range out.Node.RowErrors.Edges {
				st.RowErrors = append(st.RowErrors, e.Node)
			}
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import is still %s (%d of %d rows) after %v", out.Node.Status, out.Node.RowsDone, out.Node.RowsTotal, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// impCSV is a staff list with the given rows under the full header.
func impCSV(rows ...string) []byte {
	return []byte(strings.Join(staffcsv.Header(), ",") + "\n" + strings.Join(rows, "\n") + "\n")
}

// impRow is a good row for a new clerical user named n.
func impRow(n string) string {
	return fmt.Sprintf("imp.%s,imp.%s@example.org,Imp,%s,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", n, n, n)
}

// impUsernames are the usernames starting with "imp." in the database.
func impUsernames(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	names, err := env.DB.Client.User.Query().Where(user.UsernameHasPrefix("imp.")).Select(user.FieldUsername).Strings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func impCodes(st impState) map[int][]string {
	m := map[int][]string{}
	for _, e := range st.RowErrors {
		m[e.Row] = append(m[e.Row], e.Column+":"+e.Code)
	}
	return m
}

func TestImportCreatesExactlyTheGoodRows(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		file := impCSV(
			impRow("a"), // row 2
			"imp.b,not-an-email,Imp,B,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", // 3
			impRow("c"), // 4
			"imp.d,imp.d@example.org,Imp,D,,CLERICAL,INACTIVE,Nowhere,Sunrise Downtown,View Patients,,,",                                    // 5
			"imp.e,imp.e@example.org,Imp,E,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,Fly,,,",                                     // 6
			`imp.f,imp.f@example.org,"=HYPERLINK(""http://evil"")",F,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,`, // 7
			"imp.g,imp.g@example.org,Imp", // 8: ragged
			impRow("a"),                   // 9: the same username again
			"admin,imp.h@example.org,Imp,H,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", // 10
			impRow("i"), // 11
			"imp.j,imp.j@example.org,Imp,J,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,Company Admin; View Patients,,,", // 12 (admin holds it: fine)
		)
		id := impStart(t, env, admin, file, false)
		st := impWait(t, admin, id)
		if st.Status != "COMPLETED" || st.RowsTotal != 11 || st.RowsDone != 11 || st.Created != 4 || st.Failed != 7 {
			t.Fatalf("import = %+v", st)
		}
		if got, want := impUsernames(t, env), []string{"imp.a", "imp.c", "imp.i", "imp.j"}; !slices.Equal(got, want) {
			// 4 with "imp." plus none with other prefixes
			t.Errorf("users created = %v, want %v", got, want)
		}
		codes := impCodes(st)
		want := map[int]string{3: "email:INVALID_EMAIL", 5: "home_clinic:UNKNOWN_CLINIC", 6: "permissions:UNKNOWN_PERMISSION",
			7: "first_name:FORMULA_NOT_ALLOWED", 8: ":MALFORMED_ROW", 9: "username:USERNAME_TAKEN", 10: "username:USERNAME_TAKEN"}
		for row, code := range want {
			if !slices.Contains(codes[row], code) {
				t.Errorf("row %d errors = %v, want %s among them", row, codes[row], code)
			}
		}
		for _, ok := range []int{2, 4, 11, 12} {
			if len(codes[ok]) > 0 {
				t.Errorf("good row %d has errors %v", ok, codes[ok])
			}
		}
		// The upload and each created user are audited, linked by the
		// import's ID.
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		dbID, _ := gid.Decode(id)
		if n, err := env.DB.Client.AuditEvent.Query().Where(auditevent.ActionEQ(auditevent.ActionUSERS_IMPORTED),
			auditevent.TargetID(dbID)).Count(ctx); err != nil || n != 1 {
			t.Errorf("%d USERS_IMPORTED records (%v), want 1", n, err)
		}
		created, err := env.DB.Client.AuditEvent.Query().Where(auditevent.ActionEQ(auditevent.ActionUSER_CREATED),
			auditevent.HasTargetUserWith(user.UsernameHasPrefix("imp."))).All(ctx)
		if err != nil || len(created) != 4 {
			t.Fatalf("%d USER_CREATED records of imported users (%v), want 4", len(created), err)
		}
		for _, e := range created {
			if e.After["bulkOperationId"] != id {
				t.Errorf("USER_CREATED after = %v, want bulkOperationId %s", e.After, id)
			}
		}
	})
}

// A row with an error in any of its cells creates nobody, even when what
// could be read of it would make a valid user (an unknown permission among
// known ones, an unknown status, an unknown extra clinic), and reports
// every error of the row at once, as a dry run does.
func TestImportRowWithAnyErrorCreatesNobody(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		file := impCSV(
			"imp.k,imp.k@example.org,Imp,K,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,Fly; View Patients,,,", // 2
			"imp.l,imp.l@example.org,Imp,L,,CLERICAL,SOMETIMES,Sunrise Downtown,Sunrise Downtown,View Patients,,,",     // 3
			"imp.m,imp.m@example.org,Imp,M,,CLERICAL,INACTIVE,Sunrise Downtown,Nowhere,View Patients,,,",               // 4
			"admin,not-an-email,Imp,N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,Fly,,,",                     // 5
			impRow("o"), // 6
		)
		st := impWait(t, admin, impStart(t, env, admin, file, false))
		if st.Status != "COMPLETED" || st.Created != 1 || st.Failed != 4 {
			t.Fatalf("import = %+v", st)
		}
		if got := impUsernames(t, env); !slices.Equal(got, []string{"imp.o"}) {
			t.Fatalf("users created = %v, want only imp.o", got)
		}
		codes := impCodes(st)
		want := map[int][]string{2: {"permissions:UNKNOWN_PERMISSION"}, 3: {"status:INVALID_STATUS"}, 4: {"clinics:UNKNOWN_CLINIC"},
			5: {"permissions:UNKNOWN_PERMISSION", "email:INVALID_EMAIL", "username:USERNAME_TAKEN"}}
		for row, cs := range want {
			for _, c := range cs {
				if !slices.Contains(codes[row], c) {
					t.Errorf("row %d errors = %v, want %s among them", row, codes[row], c)
				}
			}
		}
	})
}

func TestImportDryRunWritesNothing(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		file := impCSV(impRow("a"), impRow("b"), impRow("a"), "imp.x,bad,Imp,X,,CLERICAL,,Nowhere,,Nope,,,")
		id := impStart(t, env, admin, file, true)
		st := impWait(t, admin, id)
		if st.Status != "COMPLETED" || st.Created != 2 || st.Failed != 2 {
			t.Fatalf("dry run = %+v", st)
		}
		codes := impCodes(st)
		if !slices.Contains(codes[4], "username:USERNAME_TAKEN") {
			t.Errorf("row 4 (same username as row 2) = %v", codes[4])
		}
		for _, c := range []string{"email:INVALID_EMAIL", "home_clinic:UNKNOWN_CLINIC", "permissions:UNKNOWN_PERMISSION"} {
			if !slices.Contains(codes[5], c) {
				t.Errorf("row 5 = %v, want %s among them (every error of a row at once)", codes[5], c)
			}
		}
		if got := impUsernames(t, env); len(got) > 0 {
			t.Errorf("a dry run created %v", got)
		}
	})
}

// A crash after a batch's users were created but before its progress was
// committed: the job runs the rows again and counts them as created, not
// as USERNAME_TAKEN, and nobody is created twice.
func TestImportResumesWithoutCreatingTwice(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		var rows []string
		for i := range 250 {
			rows = append(rows, impRow(fmt.Sprintf("r%03d", i)))
		}
		rows = append(rows, "imp.bad,bad,Imp,Bad,,CLERICAL,INACTIVE,Sunrise Downtown,,View Patients,,,")
		file := impCSV(rows...)
		id := impStart(t, env, admin, file, false)
		st := impWait(t, admin, id)
		if st.Created != 250 || st.Failed != 1 {
			t.Fatalf("import = %+v", st)
		}
		// Undo the progress of the last batch (50 created rows and the bad
		// one) as if the process had died before committing it, and work
		// again: the last commit is then as old as the import.
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		dbID, _ := gid.Decode(id)
		c := env.DB.Client
		if _, err := c.UserImportError.Delete().Where(userimporterror.UserImportID(dbID)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		imp, err := c.UserImport.Get(ctx, dbID)
		if err != nil {
			t.Fatal(err)
		}
		// The file is deleted once the import completes: store it again.
		if _, err := env.App.Media.PutStream(ctx, imp.BlobKey, bytes.NewReader(file), "text/csv"); err != nil {
			t.Fatal(err)
		}
		if err := c.UserImport.UpdateOneID(dbID).SetRowsDone(200).SetCreated(200).SetFailed(0).
			SetStatus(userimport.StatusRUNNING).ClearFinishedAt().SetUpdatedAt(imp.CreatedAt).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		tx, err := c.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Jobs.InsertTx(ctx, tx, staffimport.Args{ImportID: dbID}, nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		st = impWait(t, admin, id)
		if st.Status != "COMPLETED" || st.RowsDone != 251 || st.Created != 250 || st.Failed != 1 || len(st.RowErrors) != 1 {
			t.Fatalf("resumed import = %+v", st)
		}
		if n := len(impUsernames(t, env)); n != 250 {
			t.Errorf("%d users, want 250", n)
		}
	})
}

// A file imported, then exported, gives back the same rows; and the demo's
// whole export reads back without a cell error (only the people exist).
func TestImportExportRoundTrip(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		rows := []string{
			`imp.rt1,imp.rt1@example.org,'=Eve,O'Brien,"Eve ""E"" O'Brien",CLERICAL,INACTIVE,Sunrise Northside,Sunrise Downtown; Sunrise Northside,View Patients; Edit Patients,,,`,
			`imp.rt2,imp.rt2@example.org,Zoë,'-Dash,Zoë -Dash,PT,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,1234567893,PT012345,CA`,
		}
		st := impWait(t, admin, impStart(t, env, admin, impCSV(rows...), false))
		if st.Created != 2 {
			t.Fatalf("import = %+v", st)
		}
		link, _ := uexpExport(t, admin, map[string]any{"filter": map[string]any{"username": "imp.rt"}})
		_, got := uexpGet(t, env, link)
		var want [][]string
		for _, line := range rows {
			rec, _ := readCSVLine(line)
			want = append(want, rec)
		}
		slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("export after import:\n got %q\nwant %q", got, want)
		}

		// The whole demo export, dry-run imported: only existing people.
		link, _ = uexpExport(t, admin, map[string]any{})
		_, all := uexpGet(t, env, link)
		var lines []string
		for _, r := range all {
			lines = append(lines, csvLine(r))
		}
		st = impWait(t, admin, impStart(t, env, admin, impCSV(lines...), true))
		for _, e := range st.RowErrors {
			switch e.Code {
			case "USERNAME_TAKEN", "EMAIL_TAKEN", "DUPLICATE_PROVIDER":
			default:
				t.Errorf("row %d of the demo export: %s %s %s", e.Row, e.Column, e.Code, e.Message)
			}
		}
	})
}

func TestImportHostileFiles(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		big := strings.Repeat("A", 9<<20)
		file := impCSV(
			"imp.n1,imp.n1@example.org,Imp\x00,N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,",  // 2 NUL
			"imp.n2,imp.n2@example.org,Imp\xe9,N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,",  // 3 Latin-1
			"imp.n3,imp.n3@example.org,@SUM(A1),N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", // 4
			"imp.n4,imp.n4@example.org,"+big+",N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,",  // 5
			`imp.n5,imp.n5@example.org,Im"p,N,,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,`,     // 6 bare quote
			impRow("ok"), // 7
		)
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		st := impWait(t, admin, impStart(t, env, admin, file, false))
		if st.Status != "COMPLETED" || st.Created != 1 || st.Failed != 5 {
			t.Fatalf("import = %+v", st)
		}
		codes := impCodes(st)
		for row, code := range map[int]string{2: "first_name:INVALID_CHARACTER", 3: "first_name:INVALID_ENCODING",
			4: "first_name:FORMULA_NOT_ALLOWED", 5: "first_name:CELL_TOO_LONG", 6: ":MALFORMED_ROW"} {
			if !slices.Contains(codes[row], code) {
				t.Errorf("row %d = %v, want %s", row, codes[row], code)
			}
		}
		// Latin-1 everywhere, and a file that is not CSV at all.
		st = impWait(t, admin, impStart(t, env, admin, []byte("\xff\xfeu\x00s\x00"), false))
		if st.Status != "FAILED" || st.Error == nil {
			t.Errorf("a UTF-16 file: %+v", st)
		}
		// Over 10 MB: refused, not an internal error.
		p, errs, status := impUpload(t, env, admin, bytes.Repeat([]byte("a,"), 6<<20), false)
		if status == http.StatusInternalServerError || (len(errs) == 0 && (p == nil || len(p["userErrors"].([]any)) == 0)) {
			t.Errorf("an 12 MB file: status %d, %v, %v", status, errs, p)
		}
		if got := impUsernames(t, env); !slices.Equal(got, []string{"imp.ok"}) {
			t.Errorf("users = %v", got)
		}
	})
}

func readCSVLine(s string) ([]string, error) { return csv.NewReader(strings.NewReader(s)).Read() }

func csvLine(r []string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(r)
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// The template and the example file are served, and the example imports
// (as a dry run: its clinic names are not the demo's, which is reported).
func TestImportTemplateAndExample(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		for _, name := range []string{"template.csv", "example.csv"} {
			res, err := env.Server.Client().Get(env.Server.URL + staffimport.TemplatePrefix + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(res.Body).ReadAll()
			_ = res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK || len(rows) == 0 || !slices.Equal(rows[0], staffcsv.Header()) {
				t.Fatalf("%s: status %d, %v, %v", name, res.StatusCode, rows, err)
			}
			if name == "example.csv" && len(rows) != 2 {
				t.Errorf("example.csv has %d rows", len(rows))
			}
		}
	})
}

// userImportProgress sends the import's state, then each committed batch,
// and ends after COMPLETED; another organization's manager cannot follow it.
func TestImportProgressIsLive(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		var rows []string
		for i := range 350 {
			rows = append(rows, impRow(fmt.Sprintf("p%03d", i)))
		}
		id := impStart(t, env, admin, impCSV(rows...), false)
		const sub = `subscription($id: ID!) { userImportProgress(id: $id) { status rowsTotal rowsDone created failed } }`
		s := admin.Subscribe(apitest.GraphQLTransportWS, sub, map[string]any{"id": id})
		defer s.Close()
		last := -1
		var updates int
		for {
			r := s.Next(60 * time.Second)
			if len(r.Errors) > 0 {
				t.Fatalf("userImportProgress: %s", r.Body)
			}
			var out struct {
				UserImportProgress struct {
					Status                               string
					RowsTotal, RowsDone, Created, Failed int
				}
			}
			r.Decode(t, &out)
			p := out.UserImportProgress
			updates++
			if p.RowsTotal != 350 || p.RowsDone < last {
				t.Fatalf("progress %+v after rowsDone %d", p, last)
			}
			last = p.RowsDone
			if p.Status == "COMPLETED" {
				if p.RowsDone != 350 || p.Created != 350 {
					t.Fatalf("final progress %+v", p)
				}
				break
			}
		}
		s.WaitEnded(10 * time.Second)
		t.Logf("%d progress messages", updates)

		other := env.LoginDemo("harbor.admin").Subscribe(apitest.GraphQLTransportWS, sub, map[string]any{"id": id})
		defer other.Close()
		if r := other.Next(10 * time.Second); len(r.Errors) == 0 || r.Code() != "NOT_FOUND" {
			t.Errorf("another organization's manager: %s", r.Body)
		}
	})
}

// The 10 MB body limit is importUsers' alone: a 3 MB picture upload is
// still refused by the 2 MB limit, and so is an anonymous 3 MB import.
func TestImportUploadLimitIsImportsOnly(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		big := bytes.Repeat([]byte("x"), 3<<20)
		p, errs := imgUpload(t, env, admin, imgUploadPicture, imgUserID(t, admin, demo.AdminUsername), big)
		if len(errs) == 0 && p != nil && len(p["userErrors"].([]any)) == 0 {
			t.Errorf("a 3 MB picture upload was accepted: %v", p)
		}
		p, errs, status := impUpload(t, env, env.Anonymous(), big, false)
		if status == http.StatusInternalServerError || (len(errs) == 0 && p != nil && p["userImport"] != nil) {
			t.Errorf("an anonymous 3 MB import: status %d, %v, %v", status, errs, p)
		}
		// Signed in, the same 3 MB goes through (one malformed header).
		st := impWait(t, admin, impStart(t, env, admin, append([]byte("username\n"), big...), false))
		if st.Status != "FAILED" {
			t.Errorf("a 3 MB file without the required columns: %+v", st)
		}
	})
}

// Imported users have no password: they are invited (when Active, as
// createUser does) and cannot sign in until they set one.
func TestImportInvitesActiveUsers(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		rows := []string{
			"imp.inv1,imp.inv1@example.org,Inv,One,,CLERICAL,ACTIVE,Sunrise Lakeview,Sunrise Lakeview,View Patients,,,",
			"imp.inv2,imp.inv2@example.org,Inv,Two,,CLERICAL,INACTIVE,Sunrise Lakeview,Sunrise Lakeview,View Patients,,,",
		}
		st := impWait(t, admin, impStart(t, env, admin, impCSV(rows...), false))
		if st.Created != 2 {
			t.Fatalf("import = %+v", st)
		}
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		active := 0
		for _, name := range []string{"imp.inv1", "imp.inv2"} {
			u, err := env.DB.Client.User.Query().Where(user.Username(name)).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if u.PasswordSet || u.PasswordHash != passwords.Unusable {
				t.Errorf("%s: password set %v, hash %q", name, u.PasswordSet, u.PasswordHash[:min(12, len(u.PasswordHash))])
			}
			if u.Status == user.StatusACTIVE {
				active++
				adjEventually(t, "the invitation of "+name, 15*time.Second, func() bool {
					for _, m := range invMail(env, u.Email) {
						if strings.Contains(m, "Alex Morgan invited you") {
							return true
						}
					}
					return false
				})
			} else if len(invMail(env, u.Email)) > 0 {
				t.Errorf("%s is Inactive and was emailed", name)
			}
		}
		if active == 0 {
			t.Skip("no clerical license free at Sunrise Lakeview in the demo data: nobody to invite")
		}
	})
}
