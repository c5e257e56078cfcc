package db

import "context"

// SQLiteSearchTable is the FTS5 table that indexes the users' search text,
// username and email on SQLite for substring search (R17): the trigram
// tokenizer indexes every three-character sequence, so a fragment of three
// characters or more is found through the index wherever it occurs in a
// word, as PostgreSQL's pg_trgm index finds it. The table holds only the
// index (external content: the text stays in users), and triggers keep it in
// step with the user rows in the same transaction as every write.
//
// The indexed text is already folded (policy.SearchText, policy.Key), so
// the tokenizer compares it exactly (case_sensitive 1), as PostgreSQL's LIKE
// does.
const SQLiteSearchTable = "users_search"

var sqliteSearchSchema = []string{
	`CREATE VIRTUAL TABLE IF NOT EXISTS users_search USING fts5(
		search_text, username_key, email_key,
		content='users', content_rowid='id',
		tokenize='trigram case_sensitive 1')`,
	`CREATE TRIGGER IF NOT EXISTS users_search_insert AFTER INSERT ON users BEGIN
		INSERT INTO users_search(rowid, search_text, username_key, email_key)
		VALUES (new.id, new.search_text, new.username_key, new.email_key);
	END`,
	`CREATE TRIGGER IF NOT EXISTS users_search_delete AFTER DELETE ON users BEGIN
		INSERT INTO users_search(users_search, rowid, search_text, username_key, email_key)
		VALUES ('delete', old.id, old.search_text, old.username_key, old.email_key);
	END`,
	`CREATE TRIGGER IF NOT EXISTS users_search_update AFTER UPDATE OF search_text, username_key, email_key ON users BEGIN
		INSERT INTO users_search(users_search, rowid, search_text, username_key, email_key)
		VALUES ('delete', old.id, old.search_text, old.username_key, old.email_key);
		INSERT INTO users_search(rowid, search_text, username_key, email_key)
		VALUES (new.id, new.search_text, new.username_key, new.email_key);
	END`,
	// Index the users that existed before the table (or a trigger) did.
	`INSERT INTO users_search(users_search) VALUES ('rebuild')`,
}

// migrateSQLiteSearch creates the search index and its triggers, and fills
// the index from the users, unless all of them exist.
func (d *DB) migrateSQLiteSearch(ctx context.Context) error {
	return d.ensure(ctx, []string{SQLiteSearchTable, "users_search_insert", "users_search_delete", "users_search_update"},
		sqliteSearchSchema)
}

// SQLiteUserListIndex is an index of each organization's users in the user
// list's order (last name, then id) that also holds their search text, so
// that a page of users whose names contain a common fragment is read from
// the index alone, in order, stopping when the page is full
// (internal/directory). It extends ent's (organization_id, last_name, id).
const SQLiteUserListIndex = "user_organization_id_last_name_id_search_text"

var sqliteUserListIndex = `CREATE INDEX IF NOT EXISTS ` + SQLiteUserListIndex +
	` ON users (organization_id, last_name, id, search_text)`
