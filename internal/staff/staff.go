// Package staff defines the user types of the platform and the license class
// each one takes (R20), shared by the ent schema, the GraphQL layer and every
// service.
package staff

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// UserType is a profile's user type.
type UserType string

const (
	PT       UserType = "PT"
	OT       UserType = "OT"
	SLP      UserType = "SLP"
	PTA      UserType = "PTA"
	COTA     UserType = "COTA"
	SLPA     UserType = "SLPA"
	SPT      UserType = "SPT"
	SOT      UserType = "SOT"
	SSLP     UserType = "SSLP"
	Clerical UserType = "CLERICAL"
	Biller   UserType = "BILLER"
	// Support is platform Support staff: no organization, no license (R1).
	Support UserType = "SUPPORT"
)

// UserTypes lists every user type.
var UserTypes = []UserType{PT, OT, SLP, PTA, COTA, SLPA, SPT, SOT, SSLP, Clerical, Biller, Support}

// PracticeUserTypes are the user types an organization's own staff may have.
var PracticeUserTypes = UserTypes[:len(UserTypes)-1]

// LicenseClass is a class of license (R20).
type LicenseClass string

const (
	Therapist         LicenseClass = "THERAPIST"
	Assistant         LicenseClass = "ASSISTANT"
	Student           LicenseClass = "STUDENT"
	ClericalClass     LicenseClass = "CLERICAL"
	noLicense         LicenseClass = ""
	classUnknownError              = "unknown user type %q"
)

// LicenseClasses lists every license class.
var LicenseClasses = []LicenseClass{Therapist, Assistant, Student, ClericalClass}

// Class returns the license class a user type takes; Support takes none
// (ok is false).
func (t UserType) Class() (class LicenseClass, ok bool) {
	switch t {
	case PT, OT, SLP:
		return Therapist, true
	case PTA, COTA, SLPA:
		return Assistant, true
	case SPT, SOT, SSLP:
		return Student, true
	case Clerical, Biller:
		return ClericalClass, true
	}
	return noLicense, false
}

// IsProvider reports whether the type is of a provider class, whose profiles
// carry credentials (R4, R20).
func (t UserType) IsProvider() bool {
	c, ok := t.Class()
	return ok && c != ClericalClass
}

// Values lists the enum values for ent.
func (UserType) Values() []string { return names(UserTypes) }

// Values lists the enum values for ent.
func (LicenseClass) Values() []string { return names(LicenseClasses) }

func (t UserType) MarshalGQL(w io.Writer)     { _, _ = io.WriteString(w, strconv.Quote(string(t))) }
func (c LicenseClass) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(c))) }

func (t *UserType) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(UserTypes, UserType(s)) {
		return apperr.BadInput(fmt.Sprintf(classUnknownError, v))
	}
	*t = UserType(s)
	return nil
}

func (c *LicenseClass) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(LicenseClasses, LicenseClass(s)) {
		return apperr.BadInput(fmt.Sprintf("unknown license class %q", v))
	}
	*c = LicenseClass(s)
	return nil
}

func names[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// ClassOrNil returns the license class of t, or nil for Support.
func (t UserType) ClassOrNil() *LicenseClass {
	if c, ok := t.Class(); ok {
		return &c
	}
	return nil
}

// Title is the class as people write it: "Therapist".
func (c LicenseClass) Title() string {
	s := strings.ToLower(string(c))
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
