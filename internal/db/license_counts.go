package db

import "context"

// The license counts (ent/schema/license_count.go) are kept by triggers on
// the rows they count, so every write of a license or an adjustment, by any
// service in any transaction, changes them in that transaction. These are
// SQLite's; the PostgreSQL migration license_counts has the same in
// PL/pgSQL.
//
// A license counts in total, and in use while it has a holder (clinic and
// class never change). A pending adjustment counts as a pending addition or
// release of its quantity until its status leaves PENDING.
var sqliteLicenseCountTriggers = []string{
	`CREATE TRIGGER IF NOT EXISTS license_counts_license_added AFTER INSERT ON licenses BEGIN
		INSERT INTO license_counts (organization_id, clinic_id, class, total, in_use, pending_additions, pending_releases)
		VALUES (new.organization_id, new.clinic_id, new.class, 1, new.holder_id IS NOT NULL, 0, 0)
		ON CONFLICT (clinic_id, class) DO UPDATE SET total = total + 1, in_use = in_use + excluded.in_use;
	END`,
	`CREATE TRIGGER IF NOT EXISTS license_counts_license_removed AFTER DELETE ON licenses BEGIN
		UPDATE license_counts SET total = total - 1, in_use = in_use - (old.holder_id IS NOT NULL)
		WHERE clinic_id = old.clinic_id AND class = old.class;
	END`,
	`CREATE TRIGGER IF NOT EXISTS license_counts_license_held AFTER UPDATE OF holder_id ON licenses
	WHEN (old.holder_id IS NULL) <> (new.holder_id IS NULL) BEGIN
		UPDATE license_counts SET in_use = in_use + (new.holder_id IS NOT NULL) - (old.holder_id IS NOT NULL)
		WHERE clinic_id = new.clinic_id AND class = new.class;
	END`,
	`CREATE TRIGGER IF NOT EXISTS license_counts_adjustment_requested AFTER INSERT ON license_adjustments
	WHEN new.status = 'PENDING' BEGIN
		INSERT INTO license_counts (organization_id, clinic_id, class, total, in_use, pending_additions, pending_releases)
		VALUES (new.organization_id, new.clinic_id, new.class, 0, 0,
			CASE WHEN new.kind = 'ADD' THEN new.quantity ELSE 0 END,
			CASE WHEN new.kind = 'ADD' THEN 0 ELSE new.quantity END)
		ON CONFLICT (clinic_id, class) DO UPDATE SET
			pending_additions = pending_additions + excluded.pending_additions,
			pending_releases = pending_releases + excluded.pending_releases;
	END`,
	`CREATE TRIGGER IF NOT EXISTS license_counts_adjustment_settled AFTER UPDATE OF status ON license_adjustments
	WHEN old.status = 'PENDING' AND new.status <> 'PENDING' BEGIN
		UPDATE license_counts SET
			pending_additions = pending_additions - CASE WHEN old.kind = 'ADD' THEN old.quantity ELSE 0 END,
			pending_releases = pending_releases - CASE WHEN old.kind = 'ADD' THEN 0 ELSE old.quantity END
		WHERE clinic_id = old.clinic_id AND class = old.class;
	END`,
}

// CountLicensesSQL counts the licenses and pending adjustments of every
// clinic and class from the rows themselves (both dialects): what the kept
// counts must equal. Its columns are organization_id, clinic_id, class,
// total, in_use, pending_additions and pending_releases.
const CountLicensesSQL = `
	SELECT organization_id, clinic_id, class,
		SUM(total) AS total, SUM(in_use) AS in_use,
		SUM(pending_additions) AS pending_additions, SUM(pending_releases) AS pending_releases
	FROM (
		SELECT organization_id, clinic_id, class, COUNT(*) AS total, COUNT(holder_id) AS in_use,
			0 AS pending_additions, 0 AS pending_releases
		FROM licenses GROUP BY organization_id, clinic_id, class
		UNION ALL
		SELECT organization_id, clinic_id, class, 0, 0,
			SUM(CASE WHEN kind = 'ADD' THEN quantity ELSE 0 END),
			SUM(CASE WHEN kind = 'ADD' THEN 0 ELSE quantity END)
		FROM license_adjustments WHERE status = 'PENDING' GROUP BY organization_id, clinic_id, class
	) AS counted
	GROUP BY organization_id, clinic_id, class`

// RecountLicensesSQL rewrites every kept count from the rows (both
// dialects): the backfill when SQLite's triggers are created, and the
// repair of `usermanager licenses check --repair`. Run it in a transaction.
const RecountLicensesSQL = `DELETE FROM license_counts;
	INSERT INTO license_counts (organization_id, clinic_id, class, total, in_use, pending_additions, pending_releases)
	` + CountLicensesSQL

// migrateSQLiteLicenseCounts creates the triggers, and counts the licenses
// that existed before them, unless all of them exist.
func (d *DB) migrateSQLiteLicenseCounts(ctx context.Context) error {
	return d.ensure(ctx, []string{"license_counts_license_added", "license_counts_license_removed",
		"license_counts_license_held", "license_counts_adjustment_requested", "license_counts_adjustment_settled"},
		append(sqliteLicenseCountTriggers, RecountLicensesSQL))
}
