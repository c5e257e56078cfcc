package directory

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/credentials"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// DuplicateReason says why a user may be the same person (R14).
type DuplicateReason string

const (
	SameNPI             DuplicateReason = "SAME_NPI"
	SameLicense         DuplicateReason = "SAME_LICENSE"
	SameEmail           DuplicateReason = "SAME_EMAIL"
	SimilarName         DuplicateReason = "SIMILAR_NAME"
	SimilarPreviousName DuplicateReason = "SIMILAR_PREVIOUS_NAME"
)

func (r DuplicateReason) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

func (r *DuplicateReason) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("reason must be a string")
	}
	*r = DuplicateReason(s)
	return nil
}

// DuplicateProvidersInput describes a provider about to be added.
type DuplicateProvidersInput struct {
	FirstName     *string `json:"firstName"`
	LastName      *string `json:"lastName"`
	Email         *string `json:"email"`
	Npi           *string `json:"npi"`
	LicenseNumber *string `json:"licenseNumber"`
	LicenseState  *string `json:"licenseState"`
	// ExcludeUserID leaves out the profile being edited.
	ExcludeUserID *int `json:"excludeUserId"`
}

// DuplicateProvider is a user who may be the same person.
type DuplicateProvider struct {
	User    *ent.User         `json:"user"`
	Reasons []DuplicateReason `json:"reasons"`
}

// maxDuplicates bounds the answer.
const maxDuplicates = 50

// DuplicateProviders finds users of the viewer's organization who may be
// the provider about to be added (R14): same real NPI, same license number
// and state, same email, or a similar current or earlier name. Only users
// the viewer may see are searched (R3).
func (s *Service) DuplicateProviders(ctx context.Context, in DuplicateProvidersInput) ([]*DuplicateProvider, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("looking for duplicate providers needs the View Users permission")
	}
	first, last := strings.TrimSpace(derefOr(in.FirstName, "")), strings.TrimSpace(derefOr(in.LastName, ""))
	var candidates []*ent.User
	var preds []func(*ent.UserQuery) *ent.UserQuery
	if npi := strings.TrimSpace(derefOr(in.Npi, "")); npi != "" && !credentials.IsPlaceholderNPI(npi) {
		preds = append(preds, func(q *ent.UserQuery) *ent.UserQuery { return q.Where(user.Npi(npi)) })
	}
	if lic := strings.ToUpper(strings.TrimSpace(derefOr(in.LicenseNumber, ""))); lic != "" && !credentials.IsPlaceholderLicense(lic) {
		preds = append(preds, func(q *ent.UserQuery) *ent.UserQuery { return q.Where(user.LicenseNumber(lic)) })
	}
	if email := policy.Key(derefOr(in.Email, "")); email != "" {
		preds = append(preds, func(q *ent.UserQuery) *ent.UserQuery { return q.Where(user.EmailKey(email)) })
	}
	// Names: narrow to users whose names (current or earlier, folded in
	// search_text) share the start or the end of the last name, or the
	// start of the first name, so a misspelling in one place still finds
	// them; then judge similarity in Go (credentials.NameSimilar).
	for _, frag := range nameFragments(first, last) {
		preds = append(preds, func(q *ent.UserQuery) *ent.UserQuery { return q.Where(user.SearchTextContains(frag)) })
	}
	seen := map[int]bool{}
	for _, pred := range preds {
		q := pred(s.client.User.Query().Where(user.UserTypeNEQ(staff.Support)))
		if in.ExcludeUserID != nil {
			q = q.Where(user.IDNEQ(*in.ExcludeUserID))
		}
		found, err := q.Limit(500).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range found {
			if !seen[u.ID] {
				seen[u.ID] = true
				candidates = append(candidates, u)
			}
		}
	}
	var out []*DuplicateProvider
	for _, u := range candidates {
		if reasons := duplicateReasons(u, in, first, last); len(reasons) > 0 {
			out = append(out, &DuplicateProvider{User: u, Reasons: reasons})
			if len(out) == maxDuplicates {
				break
			}
		}
	}
	return out, nil
}

func duplicateReasons(u *ent.User, in DuplicateProvidersInput, first, last string) []DuplicateReason {
	var r []DuplicateReason
	if npi := strings.TrimSpace(derefOr(in.Npi, "")); npi != "" && !credentials.IsPlaceholderNPI(npi) && derefOr(u.Npi, "") == npi {
		r = append(r, SameNPI)
	}
	lic := strings.ToUpper(strings.TrimSpace(derefOr(in.LicenseNumber, "")))
	state := strings.ToUpper(strings.TrimSpace(derefOr(in.LicenseState, "")))
	if lic != "" && !credentials.IsPlaceholderLicense(lic) && derefOr(u.LicenseNumber, "") == lic &&
		(state == "" || derefOr(u.LicenseState, "") == state) {
		r = append(r, SameLicense)
	}
	if email := policy.Key(derefOr(in.Email, "")); email != "" && u.EmailKey == email {
		r = append(r, SameEmail)
	}
	if first != "" || last != "" {
		name := strings.TrimSpace(first + " " + last)
		if credentials.NameSimilar(name, u.FirstName+" "+u.LastName) || credentials.NameSimilar(name, u.FullName) {
			r = append(r, SimilarName)
		} else {
			for _, prev := range u.PreviousNames {
				if credentials.NameSimilar(name, prev) {
					r = append(r, SimilarPreviousName)
					break
				}
			}
		}
	}
	return r
}

// nameFragments are the folded pieces of a name candidates must share.
func nameFragments(first, last string) []string {
	var out []string
	add := func(f string) {
		if len([]rune(f)) >= 2 && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	l := []rune(strings.ReplaceAll(policy.SearchFragment(last), " ", ""))
	f := []rune(strings.ReplaceAll(policy.SearchFragment(first), " ", ""))
	if len(l) > 0 {
		add(string(l[:min(3, len(l))]))
		add(string(l[max(0, len(l)-3):]))
	}
	if len(f) > 0 {
		add(string(f[:min(3, len(f))]))
	}
	return out
}
