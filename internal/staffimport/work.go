package staffimport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/ent/userimport"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/credentials"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// columnOf names the staff-list column of a createUser input field.
var columnOf = map[string]string{
	"username": "username", "email": "email", "firstName": "first_name", "lastName": "last_name",
	"fullName": "full_name", "userType": "user_type", "status": "status", "homeClinicId": "home_clinic",
	"clinicIds": "clinics", "permissions": "permissions", "admin": "permissions",
	"npi": "npi", "licenseNumber": "license_number", "licenseState": "license_state",
}

// rowError is a row error waiting for its batch's commit.
type rowError struct {
	row int
	err *apperr.UserError
}

// batch is the progress since the last commit.
type batch struct {
	done, created, failed int
	errs                  []rowError
}

// run is one chunk's state.
type run struct {
	imp     *ent.UserImport
	as      context.Context // the importer as viewer
	clinics map[string]int  // lower-cased name -> id
	// seen: usernames and emails of earlier rows (dry run: a later row with
	// the same one would be refused when really imported).
	seenUser, seenEmail map[string]int
	// A crash can only have left users of the batch after the last
	// commit: rows up to window (data rows, 1-based), created after since
	// (the last commit), and not by this run (a later row reusing a
	// username is USERNAME_TAKEN).
	window      int
	since       time.Time
	createdHere map[string]bool
	mu          sync.Mutex // guards createdHere (rows run in parallel)
}

// errStale: another worker committed progress of this import first.
var errStale = errors.New("staffimport: progress moved on elsewhere")

func (im *Importer) work(ctx context.Context, id int) error {
	sctx := sys(ctx)
	imp, err := im.client.UserImport.Get(sctx, id)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if imp.Status == userimport.StatusCOMPLETED || imp.Status == userimport.StatusFAILED {
		return nil
	}
	as, reason, err := im.importerContext(ctx, imp)
	if err != nil {
		return err
	}
	if reason != "" {
		return im.fail(ctx, imp, reason)
	}
	if imp.Status == userimport.StatusQUEUED {
		if imp, err = imp.Update().SetStatus(userimport.StatusRUNNING).Save(sctx); err != nil {
			return err
		}
	}
	rc, err := im.store.Open(ctx, imp.BlobKey)
	if errors.Is(err, media.ErrNotFound) {
		return im.fail(ctx, imp, "the uploaded file is no longer stored")
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	rd := newReader(rc)
	if err := rd.header(); err != nil {
		return im.fail(ctx, imp, err.Error())
	}
	for range imp.RowsDone { // rows done by earlier chunks
		if _, err := rd.next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	r := &run{imp: imp, as: as, seenUser: map[string]int{}, seenEmail: map[string]int{},
		window: imp.RowsDone + Batch, since: imp.UpdatedAt, createdHere: map[string]bool{}}
	if r.clinics, err = im.clinicNames(sctx, imp.OrganizationID); err != nil {
		return err
	}
	start := time.Now()
	var b batch
	for {
		rows, eof, err := readBatch(rd, Batch)
		if err != nil {
			return err
		}
		results, err := im.processBatch(ctx, r, rows)
		if err != nil {
			return err
		}
		for i, errs := range results {
			b.done++
			if len(errs) == 0 {
				b.created++
				continue
			}
			b.failed++
			for _, e := range errs {
				b.errs = append(b.errs, rowError{rows[i].number, e})
			}
		}
		if eof {
			if err := im.commit(ctx, r, &b, true, false); err != nil {
				return ignoreStale(err)
			}
			// The file holds personal data: it goes once every row is
			// recorded (a retried job finds the import COMPLETED first).
			_ = im.store.Delete(ctx, imp.BlobKey)
			return nil
		}
		more := time.Since(start) > cmp.Or(im.ChunkTime, DefaultChunkTime)
		if err := im.commit(ctx, r, &b, false, more); err != nil || more {
			return ignoreStale(err)
		}
	}
}

// readBatch reads up to n rows; eof when the file ended.
func readBatch(rd *reader, n int) (rows []*row, eof bool, err error) {
	for len(rows) < n {
		row, err := rd.next()
		if errors.Is(err, io.EOF) {
			return rows, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		rows = append(rows, row)
	}
	return rows, false, nil
}

// processBatch processes rows. A dry run checks them one by one, in file
// order. An import creates them in runs of rows that share no username,
// email, NPI or license number (users.CreateBatch.CreateMany: one
// transaction per run, in file order); a row that repeats an earlier row's
// waits until the rows before it are done, so the first row of a file with
// a username gets it.
func (im *Importer) processBatch(ctx context.Context, r *run, rows []*row) ([]apperr.List, error) {
	results := make([]apperr.List, len(rows))
	// The rows' clinics are read once for the batch, and the uniqueness of
	// a row that breaks no other rule is left to the unique indexes
	// (users.CreateBatch): createUser's answers with fewer statements.
	ins := make([]users.CreateUserInput, len(rows))
	errs := make([]apperr.List, len(rows))
	var checked []users.CreateUserInput
	for i, row := range rows {
		if len(row.errs) == 0 {
			ins[i], errs[i] = r.input(row.cells)
			checked = append(checked, ins[i])
		}
	}
	cb, err := im.profiles.NewCreateBatch(r.as, checked)
	if err != nil {
		return nil, err
	}
	results, err = im.createBatch(ctx, r, cb, rows, ins, errs, results)
	// Whatever happened, what committed is announced to live counts.
	if aerr := cb.Done(); err == nil && aerr != nil {
		return nil, aerr
	}
	return results, err
}

// createBatch is processBatch's work, once the batch's checks are made.
func (im *Importer) createBatch(ctx context.Context, r *run, cb *users.CreateBatch, rows []*row,
	ins []users.CreateUserInput, errs, results []apperr.List) ([]apperr.List, error) {
	var err error
	process := func(i int) (apperr.List, error) { return im.process(ctx, r, cb, rows[i], ins[i], errs[i]) }
	if r.imp.DryRun { // a dry run's duplicate check is sequential
		for i := range rows {
			if results[i], err = process(i); err != nil {
				return nil, err
			}
		}
		return results, nil
	}
	var runOf []int // rows of the current run
	flush := func() error {
		err := im.createRun(ctx, r, cb, rows, ins, errs, runOf, results)
		runOf = nil
		return err
	}
	seen := map[string]bool{}
	for i, row := range rows {
		conflict := false
		for _, k := range rowKeys(row) {
			conflict = conflict || seen[k]
			seen[k] = true
		}
		if !conflict {
			runOf = append(runOf, i)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if results[i], err = process(i); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// createRun creates the rows idx of a batch, which share no username,
// email, NPI or license number, into results: all at once
// (users.CreateBatch.CreateMany), or, when a unique index refuses one of
// them (a username taken before, or by this import before a restart), one
// by one as createUser, in parallel when the importer allows it
// (PostgreSQL).
func (im *Importer) createRun(ctx context.Context, r *run, cb *users.CreateBatch, rows []*row,
	ins []users.CreateUserInput, errs []apperr.List, idx []int, results []apperr.List) error {
	var (
		many    []int
		manyIns []users.CreateUserInput
		err     error
	)
	for _, i := range idx {
		if len(rows[i].errs) > 0 || len(errs[i]) > 0 {
			if results[i], err = im.process(ctx, r, cb, rows[i], ins[i], errs[i]); err != nil {
				return err
			}
			continue
		}
		many = append(many, i)
		manyIns = append(manyIns, ins[i])
	}
	if len(many) == 0 {
		return nil
	}
	created, err := cb.CreateMany(manyIns)
	if err != nil {
		return err
	}
	var one []int
	for j, c := range created {
		i := many[j]
		if c == nil {
			one = append(one, i)
			continue
		}
		if results[i], err = im.created(ctx, r, rows[i], ins[i], errs[i], c.Payload, c.Err); err != nil {
			return err
		}
	}
	process := func(i int) (apperr.List, error) { return im.process(ctx, r, cb, rows[i], ins[i], errs[i]) }
	if im.Parallel <= 1 || len(one) <= 1 {
		for _, i := range one {
			if results[i], err = process(i); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range min(im.Parallel, len(one)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs, err := process(i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				results[i] = errs
				mu.Unlock()
			}
		}()
	}
	for _, i := range one {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

// rowKeys are the values of a row that two rows may not share. The NPI
// and license number placeholders are not among them: any number of users
// may carry them (R8).
func rowKeys(row *row) []string {
	var ks []string
	for _, col := range []string{"username", "email", "npi", "license_number"} {
		v := policy.Key(row.cells[col])
		if v == "" || col == "npi" && credentials.IsPlaceholderNPI(v) ||
			col == "license_number" && credentials.IsPlaceholderLicense(v) {
			continue
		}
		ks = append(ks, col+"\x00"+v)
	}
	return ks
}

func ignoreStale(err error) error {
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

// commit records b: the counts (only if no other worker moved them since
// this one read them), the row errors, the next chunk's job when next, and
// COMPLETED when final; subscribers hear of it on commit.
func (im *Importer) commit(ctx context.Context, r *run, b *batch, final, next bool) error {
	sctx := sys(ctx)
	err := txn.WithTx(sctx, im.client, func(tx *ent.Tx) error {
		upd := tx.UserImport.Update().
			Where(userimport.ID(r.imp.ID), userimport.RowsDone(r.imp.RowsDone)).
			AddRowsDone(b.done).AddCreated(b.created).AddFailed(b.failed)
		if final {
			upd.SetStatus(userimport.StatusCOMPLETED).SetFinishedAt(im.now())
		}
		n, err := upd.Save(sctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale
		}
		if len(b.errs) > 0 {
			creates := make([]*ent.UserImportErrorCreate, len(b.errs))
			for i, e := range b.errs {
				col := field(e.err)
				if c, ok := columnOf[col]; ok {
					col = c
				}
				creates[i] = tx.UserImportError.Create().SetOrganizationID(r.imp.OrganizationID).
					SetUserImportID(r.imp.ID).SetRow(e.row).SetColumn(col).SetCode(string(e.err.Code)).
					SetMessage(truncate(e.err.Message, 500))
			}
			if err := tx.UserImportError.CreateBulk(creates...).Exec(sctx); err != nil {
				return err
			}
		}
		if next {
			if err := im.jobs.InsertTx(ctx, tx, Args{ImportID: r.imp.ID}, nil); err != nil {
				return err
			}
		}
		return im.publish(ctx, tx, r.imp)
	})
	if err != nil {
		return err
	}
	r.imp.RowsDone += b.done
	*b = batch{}
	return nil
}

// importerContext is ctx with the importer as viewer, as they are now (their
// permissions and clinics may have changed since the upload); reason says
// why the import cannot go on (they were inactivated).
func (im *Importer) importerContext(ctx context.Context, imp *ent.UserImport) (context.Context, string, error) {
	sctx := sys(ctx)
	u, err := im.client.User.Query().Where(user.ID(imp.RequestedByID)).WithPermissions().WithClinics().Only(sctx)
	if err != nil {
		return nil, "", err
	}
	if u.Status != user.StatusACTIVE {
		return nil, "the manager who imported the file is no longer active", nil
	}
	v := &viewer.Viewer{UserID: u.ID, Username: u.Username, OrganizationID: imp.OrganizationID}
	for _, p := range u.Edges.Permissions {
		v.Permissions = append(v.Permissions, p.Key)
	}
	for _, c := range u.Edges.Clinics {
		v.ClinicIDs = append(v.ClinicIDs, c.ID)
	}
	all, err := im.client.Clinic.Query().Where(clinic.OrganizationID(imp.OrganizationID)).Count(sctx)
	if err != nil {
		return nil, "", err
	}
	v.AllClinics = all == len(v.ClinicIDs)
	v.CurrentClinicID = imp.CurrentClinicID
	if !slices.Contains(v.ClinicIDs, v.CurrentClinicID) && u.HomeClinicID != nil {
		v.CurrentClinicID = *u.HomeClinicID
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, "the manager who imported the file no longer holds View Users", nil
	}
	// Every record of the users it creates carries the import's ID
	// (after.bulkOperationId), as a bulk change's do.
	return audit.WithBulkOperation(viewer.NewContext(ctx, v), gid.Encode(imp.ID)), "", nil
}

// clinicNames maps the organization's clinics' names, lower-cased, to IDs.
func (im *Importer) clinicNames(sctx context.Context, orgID int) (map[string]int, error) {
	cs, err := im.client.Clinic.Query().Where(clinic.OrganizationID(orgID)).All(sctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]int, len(cs))
	for _, c := range cs {
		m[strings.ToLower(strings.TrimSpace(c.Name))] = c.ID
	}
	return m, nil
}

// process creates (or, in a dry run, checks) one row as createUser would,
// returning its errors (none: created); in and errs are r.input's.
func (im *Importer) process(ctx context.Context, r *run, cb *users.CreateBatch, row *row, in users.CreateUserInput, errs apperr.List) (apperr.List, error) {
	if len(row.errs) > 0 {
		return row.errs, nil
	}
	if r.imp.DryRun || len(errs) > 0 {
		// A dry run, or a row with an error in a cell: nothing is written,
		// and every other error of the row is reported with it.
		found, err := cb.CheckCreate(in)
		if err == nil && r.imp.DryRun {
			found = append(found, r.duplicates(row.number, in)...)
		}
		return report(errs, found, err)
	}
	p, err := cb.Create(in)
	return im.created(ctx, r, row, in, errs, p, err)
}

// created is a row's errors given createUser's answer to it (p, or err);
// in and errs are r.input's.
func (im *Importer) created(ctx context.Context, r *run, row *row, in users.CreateUserInput, errs apperr.List, p *users.UserPayload, err error) (apperr.List, error) {
	var found apperr.List
	if err == nil {
		found = p.UserErrors
		r.mu.Lock()
		if len(found) == 0 && len(errs) == 0 {
			r.createdHere[policy.Key(in.Username)] = true
		}
		here := r.createdHere[policy.Key(in.Username)]
		r.mu.Unlock()
		// Taken by this import before a restart: the check before the
		// insert says USERNAME_TAKEN, or, when another worker of the
		// same chunk created the row meanwhile, the unique index says
		// USERNAME_TAKEN or EMAIL_TAKEN (whichever it checks first).
		taken := hasCode(found, apperr.UsernameTaken) || hasCode(found, apperr.EmailTaken)
		if len(found) > 0 && len(errs) == 0 && taken && row.number-1 <= r.window && !here {
			ours, err := im.createdByThisImport(ctx, r.imp, in.Username, r.since)
			if err != nil {
				return nil, err
			}
			if ours { // created before a restart, its batch uncommitted
				return nil, nil
			}
		}
	}
	return report(errs, found, err)
}

// report is a row's errors: errs, the conversion's, first; then found,
// createUser's about other columns; err, a GraphQL error of createUser
// (FORBIDDEN, ...), concerns this row only.
func report(errs, found apperr.List, err error) (apperr.List, error) {
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) { // FORBIDDEN, ...: this row only
			return apperr.List{apperr.New("", apperr.Code(ae.Code), "%s", ae.Message)}, nil
		}
		return nil, err
	}
	reported := map[string]bool{}
	for _, e := range errs {
		reported[field(e)] = true
	}
	for _, e := range found {
		col := columnOf[field(e)]
		if col == "" {
			col = field(e)
		}
		if !reported[col] {
			errs = append(errs, apperr.New(col, e.Code, "%s", e.Message))
		}
	}
	return errs, nil
}

// field is a user error's field ("" for none).
func field(e *apperr.UserError) string {
	if e.Field == nil {
		return ""
	}
	return *e.Field
}

func hasCode(l apperr.List, c apperr.Code) bool {
	for _, e := range l {
		if e.Code == c {
			return true
		}
	}
	return false
}

// createdByThisImport: the user named username was created by the
// importer, in the import's organization, since the import's last progress
// commit: a row of this import whose batch was not committed before a
// crash.
func (im *Importer) createdByThisImport(ctx context.Context, imp *ent.UserImport, username string, since time.Time) (bool, error) {
	sctx := sys(ctx)
	u, err := im.client.User.Query().Where(user.UsernameKey(policy.Key(username))).Only(sctx)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.OrganizationID == nil || *u.OrganizationID != imp.OrganizationID || u.CreatedAt.Before(since) {
		return false, nil
	}
	return im.client.AuditEvent.Query().Where(auditevent.ActionEQ(auditevent.ActionUSER_CREATED),
		auditevent.TargetUserID(u.ID), auditevent.ActorID(imp.RequestedByID)).Exist(sctx)
}

// input is createUser's input for a row's cells; errs are the cells that
// name no clinic or permission, or no status.
func (r *run) input(cells map[string]string) (users.CreateUserInput, apperr.List) {
	var errs apperr.List
	in := users.CreateUserInput{
		Username: cells["username"], Email: cells["email"], FirstName: cells["first_name"],
		LastName: cells["last_name"], UserType: staff.UserType(strings.ToUpper(cells["user_type"])),
		Npi: nonEmpty(cells["npi"]), LicenseNumber: nonEmpty(cells["license_number"]), LicenseState: nonEmpty(cells["license_state"]),
		Permissions: []string{},
	}
	if s := cells["full_name"]; s != "" {
		in.FullName = &s
	}
	switch st := strings.ToUpper(cells["status"]); st {
	case "":
	case string(user.StatusACTIVE), string(user.StatusINACTIVE):
		s := user.Status(st)
		in.Status = &s
	default:
		errs.Add("status", CodeInvalidStatus, "the status is %q; it is ACTIVE, INACTIVE or empty (ACTIVE)", truncate(st, 40))
	}
	if name := cells["home_clinic"]; name != "" {
		if id, ok := r.clinics[strings.ToLower(name)]; ok {
			in.HomeClinicID = id
		} else {
			errs.Add("home_clinic", CodeUnknownClinic, "no clinic of your organization is named %q", truncate(name, 80))
		}
	} else {
		errs.Add("home_clinic", apperr.Required, "the home clinic is required")
	}
	var unknown []string
	for _, name := range staffcsv.SplitList(cells["clinics"]) {
		if id, ok := r.clinics[strings.ToLower(name)]; ok {
			if !slices.Contains(in.ClinicIDs, id) {
				in.ClinicIDs = append(in.ClinicIDs, id)
			}
		} else {
			unknown = append(unknown, truncate(name, 80))
		}
	}
	if len(unknown) > 0 {
		errs.Add("clinics", CodeUnknownClinic, "no clinic of your organization is named %s", quoteAll(unknown))
	}
	// The home clinic is one of the user's clinics (R9): a row that names
	// it only as home clinic gets it.
	if in.HomeClinicID != 0 && !slices.Contains(in.ClinicIDs, in.HomeClinicID) {
		in.ClinicIDs = append(in.ClinicIDs, in.HomeClinicID)
	}
	unknown = nil
	for _, name := range staffcsv.SplitList(cells["permissions"]) {
		if key, ok := staffcsv.PermissionKey(name); ok {
			if !slices.Contains(in.Permissions, key) {
				in.Permissions = append(in.Permissions, key)
			}
		} else {
			unknown = append(unknown, truncate(name, 80))
		}
	}
	if len(unknown) > 0 {
		errs.Add("permissions", CodeUnknownPermission, "no permission is named %s (the permissions query lists their names)", quoteAll(unknown))
	}
	return in, errs
}

// duplicates: a dry run's rows that reuse an earlier row's username or
// email (a real import would refuse the later one).
func (r *run) duplicates(number int, in users.CreateUserInput) apperr.List {
	var errs apperr.List
	if k := policy.Key(in.Username); k != "" {
		if n, ok := r.seenUser[k]; ok {
			errs.Add("username", apperr.UsernameTaken, "row %d of this file has the same username", n)
		} else {
			r.seenUser[k] = number
		}
	}
	if k := policy.Key(in.Email); k != "" {
		if n, ok := r.seenEmail[k]; ok {
			errs.Add("email", apperr.EmailTaken, "row %d of this file has the same email address", n)
		} else {
			r.seenEmail[k] = number
		}
	}
	return errs
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
