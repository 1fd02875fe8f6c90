// The PostgreSQL audit store needs libpq only: this translation unit fails to compile when
// <authevents/audit/postgres_store.hpp> includes <sqlite3.h> again, directly or through the
// SQLite store. Built with the header checks; it holds no test.
#include <authevents/audit/postgres_store.hpp>

#ifdef SQLITE_VERSION
#error "audit/postgres_store.hpp includes <sqlite3.h>: the PostgreSQL store must not need SQLite"
#endif
