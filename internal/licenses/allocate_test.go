package licenses

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

func (f *fixture) withTx(fn func(tx *ent.Tx) error) error {
	return txn.WithTx(f.ctx, f.client, fn)
}

// allocate runs Allocate in a transaction of its own, as internal/users
// does when it activates a user.
func (f *fixture) allocate(clinicID int, class staff.LicenseClass, userID int) (bool, error) {
	var ok bool
	err := f.withTx(func(tx *ent.Tx) error {
		var err error
		ok, err = f.svc.Allocate(f.ctx, tx, f.orgID, clinicID, class, userID)
		return err
	})
	return ok, err
}

// allocateConcurrently has every user ask for a license of class at the
// first clinic at once, each in their own transaction, and returns the
// users that got one.
func (f *fixture) allocateConcurrently(t *testing.T, class staff.LicenseClass, users []int) map[int]bool {
	t.Helper()
	got, err := f.allocateAll(class, users)
	if err != nil {
		t.Fatalf("concurrent allocations failed: %v", err)
	}
	return got
}

// allocateAll is allocateConcurrently for goroutines other than the test's.
func (f *fixture) allocateAll(class staff.LicenseClass, users []int) (map[int]bool, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   = map[int]bool{}
		start = make(chan struct{})
		errs  = make([]error, len(users))
	)
	for i, id := range users {
		wg.Go(func() {
			<-start
			ok, err := f.allocate(f.clinicID, class, id)
			errs[i] = err
			if ok && err == nil {
				mu.Lock()
				got[id] = true
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return got, errors.Join(errs...)
}

// licenses returns every license of the organization.
func (f *fixture) licenses(t *testing.T) []*ent.License {
	t.Helper()
	all, err := f.client.License.Query().Where(license.OrganizationID(f.orgID)).All(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// checkHolders checks R21 against the rows: each license held is held by a
// user in want, of the class wanted, at the first clinic, and every user
// of want holds exactly one.
func (f *fixture) checkHolders(t *testing.T, want map[int]staff.LicenseClass) {
	t.Helper()
	held := map[int]int{}
	for _, l := range f.licenses(t) {
		if l.HolderID == nil {
			continue
		}
		held[*l.HolderID]++
		class, ok := want[*l.HolderID]
		switch {
		case !ok:
			t.Errorf("license %d is held by user %d, who was not given one", l.ID, *l.HolderID)
		case l.Class != class:
			t.Errorf("user %d asked for a %s license and holds license %d of class %s", *l.HolderID, class, l.ID, l.Class)
		}
		if l.ClinicID != f.clinicID {
			t.Errorf("license %d of clinic %d was given for clinic %d", l.ID, l.ClinicID, f.clinicID)
		}
	}
	for id := range want {
		if held[id] != 1 {
			t.Errorf("user %d holds %d licenses, want exactly 1", id, held[id])
		}
	}
}

// counts returns the first clinic's counts by class, as a manager of it
// sees them (R22).
func (f *fixture) counts(t *testing.T) map[staff.LicenseClass]*Count {
	t.Helper()
	manager := &viewer.Viewer{UserID: 1, OrganizationID: f.orgID, Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.clinicID}}
	list, err := f.svc.Counts(viewer.NewContext(t.Context(), manager), &f.clinicID, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[staff.LicenseClass]*Count{}
	for _, c := range list {
		if c.Total != c.InUse+c.Available {
			t.Errorf("%s: total %d is not in use %d + available %d", c.Class, c.Total, c.InUse, c.Available)
		}
		if c.InUse > c.Total {
			t.Errorf("%s: in use %d exceeds total %d", c.Class, c.InUse, c.Total)
		}
		out[c.Class] = c
	}
	return out
}

// R21, R23: with 5 free licenses and 20 users activating at once, exactly 5
// get one, each holds exactly one, and in use never exceeds total.
func TestAllocateUnderConcurrency(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		const free, asking = 5, 20
		f.add(t, f.clinicID, staff.Therapist, free)
		users := f.newUsers(t, asking, staff.PT)

		got := f.allocateConcurrently(t, staff.Therapist, users)
		if len(got) != free {
			t.Fatalf("%d of %d concurrent allocations succeeded with %d free licenses, want exactly %d", len(got), asking, free, free)
		}
		want := map[int]staff.LicenseClass{}
		for id := range got {
			want[id] = staff.Therapist
		}
		f.checkHolders(t, want)
		c := f.counts(t)[staff.Therapist]
		if c.Total != free || c.InUse != free || c.Available != 0 {
			t.Errorf("counts total %d, in use %d, available %d; want %d, %d, 0", c.Total, c.InUse, c.Available, free, free)
		}
		// And the ones turned away are turned away again: nothing is free.
		for _, id := range users {
			if got[id] {
				continue
			}
			ok, err := f.allocate(f.clinicID, staff.Therapist, id)
			if err != nil || ok {
				t.Fatalf("allocation with no free license: %v, %v; want false, nil", ok, err)
			}
			break
		}
	})
}

// R20, R23: users of two classes activating at once each get a license of
// their own class only, however many of the other class are free.
func TestAllocateConcurrentlyKeepsClassesApart(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.Therapist, 3)
		f.add(t, f.clinicID, staff.Assistant, 6)
		therapists := f.newUsers(t, 10, staff.PT)
		assistants := f.newUsers(t, 10, staff.PTA)

		var wg sync.WaitGroup
		var gotT, gotA map[int]bool
		var errT, errA error
		wg.Go(func() { gotT, errT = f.allocateAll(staff.Therapist, therapists) })
		wg.Go(func() { gotA, errA = f.allocateAll(staff.Assistant, assistants) })
		wg.Wait()
		if err := errors.Join(errT, errA); err != nil {
			t.Fatalf("concurrent allocations failed: %v", err)
		}
		if len(gotT) != 3 || len(gotA) != 6 {
			t.Fatalf("%d therapists and %d assistants got a license, want 3 and 6", len(gotT), len(gotA))
		}
		want := map[int]staff.LicenseClass{}
		for id := range gotT {
			want[id] = staff.Therapist
		}
		for id := range gotA {
			want[id] = staff.Assistant
		}
		f.checkHolders(t, want)
		counts := f.counts(t)
		for class, n := range map[staff.LicenseClass]int{staff.Therapist: 3, staff.Assistant: 6, staff.Student: 0, staff.ClericalClass: 0} {
			if c := counts[class]; c.Total != n || c.InUse != n {
				t.Errorf("%s: total %d, in use %d; want %d, %d", class, c.Total, c.InUse, n, n)
			}
		}
	})
}

// R20, R21: a license of one class, or of another clinic, is never given.
func TestAllocateOnlyTheClassAndClinicAsked(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.Assistant, 2)
		f.add(t, f.clinicID, staff.ClericalClass, 2)
		f.add(t, f.clinic2, staff.Therapist, 2)
		pt := f.newUsers(t, 1, staff.PT)[0]

		ok, err := f.allocate(f.clinicID, staff.Therapist, pt)
		if err != nil || ok {
			t.Fatalf("therapist license at a clinic with only other classes free: %v, %v; want false, nil", ok, err)
		}
		f.checkHolders(t, nil)

		// At the clinic that has one, the license given is of that clinic and class.
		ok, err = f.allocate(f.clinic2, staff.Therapist, pt)
		if err != nil || !ok {
			t.Fatalf("therapist license at the other clinic: %v, %v; want true, nil", ok, err)
		}
		held, err := f.client.License.Query().Where(license.HolderID(pt)).Only(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if held.ClinicID != f.clinic2 || held.Class != staff.Therapist {
			t.Errorf("got a %s license of clinic %d, want a THERAPIST license of clinic %d", held.Class, held.ClinicID, f.clinic2)
		}
	})
}

// R21, R25: releasing frees the license (still billed), and another user of
// the class can take it; releasing a user who holds none does nothing.
func TestReleaseFreesTheLicenseForAnother(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.Therapist, 1)
		users := f.newUsers(t, 2, staff.OT)
		first, second := users[0], users[1]

		if ok, err := f.allocate(f.clinicID, staff.Therapist, first); err != nil || !ok {
			t.Fatalf("first allocation: %v, %v", ok, err)
		}
		if ok, err := f.allocate(f.clinicID, staff.Therapist, second); err != nil || ok {
			t.Fatalf("second allocation with none free: %v, %v; want false, nil", ok, err)
		}
		if err := f.withTx(func(tx *ent.Tx) error { return f.svc.Release(f.ctx, tx, first) }); err != nil {
			t.Fatal(err)
		}
		if c := f.counts(t)[staff.Therapist]; c.Total != 1 || c.InUse != 0 || c.Available != 1 {
			t.Errorf("after release: total %d, in use %d, available %d; want 1, 0, 1", c.Total, c.InUse, c.Available)
		}
		f.checkHolders(t, nil)
		// Releasing again (the user now holds none) is a no-op.
		if err := f.withTx(func(tx *ent.Tx) error { return f.svc.Release(f.ctx, tx, first) }); err != nil {
			t.Fatalf("releasing a user without a license: %v", err)
		}
		if ok, err := f.allocate(f.clinicID, staff.Therapist, second); err != nil || !ok {
			t.Fatalf("allocation after release: %v, %v; want true, nil", ok, err)
		}
		f.checkHolders(t, map[int]staff.LicenseClass{second: staff.Therapist})
		if c := f.counts(t)[staff.Therapist]; c.Total != 1 || c.InUse != 1 {
			t.Errorf("after reuse: total %d, in use %d; want 1, 1", c.Total, c.InUse)
		}
	})
}

// R21, R23: with holders releasing while others activate, all at once, in
// use never exceeds total and nobody ends up with two licenses.
func TestReleaseAndAllocateConcurrently(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		const total = 4
		f.add(t, f.clinicID, staff.Student, total)
		holders := f.newUsers(t, total, staff.SPT)
		for _, id := range holders {
			if ok, err := f.allocate(f.clinicID, staff.Student, id); err != nil || !ok {
				t.Fatalf("allocation: %v, %v", ok, err)
			}
		}
		waiting := f.newUsers(t, 12, staff.SOT)

		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, len(holders)+len(waiting))
		var mu sync.Mutex
		got := map[int]bool{}
		for _, id := range holders {
			wg.Go(func() {
				<-start
				errs <- f.withTx(func(tx *ent.Tx) error { return f.svc.Release(f.ctx, tx, id) })
			})
		}
		for _, id := range waiting {
			wg.Go(func() {
				<-start
				ok, err := f.allocate(f.clinicID, staff.Student, id)
				errs <- err
				if ok && err == nil {
					mu.Lock()
					got[id] = true
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(got) > total {
			t.Fatalf("%d users got one of %d licenses", len(got), total)
		}
		want := map[int]staff.LicenseClass{}
		for id := range got {
			want[id] = staff.Student
		}
		f.checkHolders(t, want)
		c := f.counts(t)[staff.Student]
		if c.Total != total || c.InUse != len(got) {
			t.Errorf("total %d, in use %d; want %d, %d", c.Total, c.InUse, total, len(got))
		}
	})
}

// Add adds billed, free licenses of one class at one clinic, in batches,
// and refuses impossible quantities.
func TestAdd(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.ClericalClass, 501) // more than one batch
		f.add(t, f.clinicID, staff.ClericalClass, 0)
		f.add(t, f.clinic2, staff.Therapist, 2)
		counts := f.counts(t)
		if c := counts[staff.ClericalClass]; c.Total != 501 || c.InUse != 0 || c.Available != 501 {
			t.Errorf("clerical: total %d, in use %d, available %d; want 501, 0, 501", c.Total, c.InUse, c.Available)
		}
		if c := counts[staff.Therapist]; c.Total != 0 {
			t.Errorf("therapist licenses of another clinic counted here: total %d", c.Total)
		}
		for _, n := range []int{-1, MaxQuantity + 1} {
			err := f.withTx(func(tx *ent.Tx) error { return f.svc.Add(f.ctx, tx, f.orgID, f.clinicID, staff.ClericalClass, n) })
			if err == nil {
				t.Errorf("adding %d licenses succeeded", n)
			}
		}
		if c := f.counts(t)[staff.ClericalClass]; c.Total != 501 {
			t.Errorf("after refused additions: total %d, want 501", c.Total)
		}
	})
}

// R22: counts are per clinic, and for the whole organization when no
// clinic is named; pending additions and releases are not yet in total.
func TestCountsPerClinicAndOrganization(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.Therapist, 2)
		f.add(t, f.clinic2, staff.Therapist, 3)
		pt := f.newUsers(t, 1, staff.SLP)[0]
		if ok, err := f.allocate(f.clinicID, staff.Therapist, pt); err != nil || !ok {
			t.Fatalf("allocation: %v, %v", ok, err)
		}
		manager := &viewer.Viewer{UserID: 1, OrganizationID: f.orgID, Permissions: []string{viewer.PermViewUsers},
			ClinicIDs: []int{f.clinicID, f.clinic2}, AllClinics: true}
		ctx := viewer.NewContext(t.Context(), manager)
		org, err := f.svc.Counts(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(org) != len(staff.LicenseClasses) {
			t.Fatalf("%d counts, want one per class (%d)", len(org), len(staff.LicenseClasses))
		}
		for _, c := range org {
			if c.Clinic != nil {
				t.Errorf("organization-wide count names clinic %d", c.Clinic.ID)
			}
			want := [3]int{}
			if c.Class == staff.Therapist {
				want = [3]int{5, 1, 4}
			}
			if got := [3]int{c.Total, c.InUse, c.Available}; got != want {
				t.Errorf("organization %s: total, in use, available %v; want %v", c.Class, got, want)
			}
		}
		if c := f.counts(t)[staff.Therapist]; c.Total != 2 || c.InUse != 1 || c.Available != 1 || c.Clinic == nil || c.Clinic.ID != f.clinicID {
			t.Errorf("clinic therapist count %+v; want total 2, in use 1, available 1 of clinic %d", c, f.clinicID)
		}

		// Without View Users, no counts.
		clerk := &viewer.Viewer{UserID: 2, OrganizationID: f.orgID, ClinicIDs: []int{f.clinicID}}
		_, err = f.svc.Counts(viewer.NewContext(t.Context(), clerk), &f.clinicID, nil)
		if e, ok := apperr.AsError(err); !ok || e.Code != apperr.CodeForbidden {
			t.Errorf("counts without View Users: %v, want FORBIDDEN", err)
		}
	})
}

// R27: an allocation announces the clinic's new counts once it commits, and
// never when it rolls back.
func TestAllocateAnnouncesOnCommitOnly(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		bus := events.New(f.db.Dialect, f.db.URL)
		if err := bus.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bus.Close)
		f.svc = New(f.client, f.db.Dialect, bus, nil)
		in := bus.Subscribe(t.Context())
		next := func() events.Event {
			t.Helper()
			select {
			case e, ok := <-in:
				if !ok {
					t.Fatal("the subscription ended")
				}
				return e
			case <-time.After(10 * time.Second):
				t.Fatal("no event 10s after a change committed")
			}
			return events.Event{}
		}
		// On PostgreSQL events arrive asynchronously (NOTIFY), in commit
		// order: the additions' events come first.
		f.add(t, f.clinicID, staff.Therapist, 1)
		f.add(t, f.clinic2, staff.Therapist, 1)
		for _, clinic := range []int{f.clinicID, f.clinic2} {
			if e := next(); e.Kind != events.CountsChanged || e.ClinicID != clinic {
				t.Fatalf("event %+v; want counts changed at clinic %d (an addition)", e, clinic)
			}
		}
		pt := f.newUsers(t, 1, staff.PT)[0]

		// Rolled back at the first clinic...
		rollback := errors.New("roll back")
		err := f.withTx(func(tx *ent.Tx) error {
			if ok, err := f.svc.Allocate(f.ctx, tx, f.orgID, f.clinicID, staff.Therapist, pt); err != nil || !ok {
				t.Errorf("allocation: %v, %v", ok, err)
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		// ...then committed at the second: the next event is the second's.
		if ok, err := f.allocate(f.clinic2, staff.Therapist, pt); err != nil || !ok {
			t.Fatalf("allocation: %v, %v", ok, err)
		}
		if e := next(); e.Kind != events.CountsChanged || e.OrganizationID != f.orgID || e.ClinicID != f.clinic2 {
			t.Errorf("event %+v; want counts changed at clinic %d of organization %d", e, f.clinic2, f.orgID)
		}
	})
}

// R23's message names the class and the clinic.
func TestNoLicenseNamesClassAndClinic(t *testing.T) {
	t.Parallel()
	e := NoLicense("homeClinicId", staff.Assistant, "Main Street")
	if e.Code != apperr.MaximumLicensesReached || e.Field == nil || *e.Field != "homeClinicId" {
		t.Errorf("code %s on %v; want %s on homeClinicId", e.Code, e.Field, apperr.MaximumLicensesReached)
	}
	if !strings.Contains(e.Message, "assistant") || !strings.Contains(e.Message, "Main Street") {
		t.Errorf("message %q does not name the class and the clinic", e.Message)
	}
}

// R23 with AllocateMany (an import's run of users): batches and single
// allocations racing for the same licenses hand out exactly the free ones,
// each to one user, and a batch's users get theirs in order (a prefix).
func TestAllocateManyUnderConcurrency(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		const free = 12
		f.add(t, f.clinicID, staff.Therapist, free)
		batches := [][]int{f.newUsers(t, 8, staff.PT), f.newUsers(t, 8, staff.PT), f.newUsers(t, 8, staff.PT)}
		singles := f.newUsers(t, 6, staff.PT)

		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			got   = map[int]bool{}
			errs  []error
			start = make(chan struct{})
		)
		note := func(ids []int, err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			for _, id := range ids {
				if got[id] {
					t.Errorf("user %d reported twice", id)
				}
				got[id] = true
			}
		}
		for _, batch := range batches {
			wg.Go(func() {
				<-start
				var taken []int
				err := f.withTx(func(tx *ent.Tx) error {
					var err error
					taken, err = f.svc.AllocateMany(f.ctx, tx, f.orgID, f.clinicID, staff.Therapist, batch)
					return err
				})
				if !slices.Equal(taken, batch[:len(taken)]) {
					t.Errorf("batch %v: taken %v, not its first users", batch, taken)
				}
				note(taken, err)
			})
		}
		for _, id := range singles {
			wg.Go(func() {
				<-start
				ok, err := f.allocate(f.clinicID, staff.Therapist, id)
				if ok {
					note([]int{id}, err)
				} else {
					note(nil, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent allocations failed: %v", err)
		}
		if len(got) != free {
			t.Fatalf("%d users got a license with %d free, want exactly %d", len(got), free, free)
		}
		want := map[int]staff.LicenseClass{}
		for id := range got {
			want[id] = staff.Therapist
		}
		f.checkHolders(t, want)
		if c := f.counts(t)[staff.Therapist]; c.Total != free || c.InUse != free || c.Available != 0 {
			t.Errorf("counts total %d, in use %d, available %d; want %d, %d, 0", c.Total, c.InUse, c.Available, free, free)
		}
	})
}
