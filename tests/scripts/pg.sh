# Throwaway PostgreSQL 15 on 127.0.0.1, for the demo and the benchmark. Source this file.
#   pg_start DIR PORT   initdb + start (as the postgres user when run as root)
#   pg_stop DIR         stop and remove
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  local dir=$1 port=$2
  if [ "$(id -u)" -eq 0 ]; then install -d -o postgres -g postgres -m 700 "$dir"; else mkdir -p -m 700 "$dir"; fi
  pg_as "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
  pg_as "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off" start >/dev/null
  export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
}

pg_stop() {
  local dir=$1
  [ -d "$dir/data" ] && pg_as "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

# Sample data shaped like the runbook's app (Triage Warden): users, connectors, incidents.
pg_load_sample() {
  local db=$1 incidents=${2:-200000}
  psql -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text, created_at timestamptz DEFAULT now());
CREATE TABLE connectors (id serial PRIMARY KEY, kind text NOT NULL, config jsonb NOT NULL, enabled boolean DEFAULT true);
CREATE TABLE incidents (id bigserial PRIMARY KEY, title text NOT NULL, severity int NOT NULL,
  status text NOT NULL, assignee int REFERENCES users(id), details jsonb, opened_at timestamptz NOT NULL);
INSERT INTO users (email, name) SELECT 'user' || i || '@example.invalid', 'User ' || i FROM generate_series(1, 500) i;
INSERT INTO connectors (kind, config) SELECT (ARRAY['slack','pagerduty','jira','email'])[1 + i % 4],
  jsonb_build_object('endpoint', 'https://hooks.example.invalid/' || md5(i::text), 'retries', i % 5) FROM generate_series(1, 40) i;
INSERT INTO incidents (title, severity, status, assignee, details, opened_at)
  SELECT 'Incident ' || i || ': ' || md5(i::text), 1 + i % 5, (ARRAY['open','triaged','resolved'])[1 + i % 3],
         1 + i % 500, jsonb_build_object('host', 'node-' || (i % 97), 'trace', md5((i * 7)::text)),
         timestamptz '2026-01-01' + (i || ' minutes')::interval
  FROM generate_series(1, $incidents) i;
SQL
}

# One line per table: name, row count, md5 of the ordered rows.
pg_fingerprint() {
  local db=$1
  for t in users connectors incidents; do
    psql -At -d "$db" -c "SELECT '$t', count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM $t t"
  done
}
