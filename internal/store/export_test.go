package store

import "database/sql"

// ReadCommitted lowers s's write transactions to READ COMMITTED, so that a
// test can show what SERIALIZABLE prevents.
func ReadCommitted(s *Postgres) { s.isolation = sql.LevelReadCommitted }

// PostgresSchemaVersion is the schema version this store migrates to.
var PostgresSchemaVersion = len(postgresMigrations)
