#!/bin/sh
# Creates Temporal's two databases and brings their schemas up to the version this image
# ships (temporal-sql-tool; idempotent, so it runs on every `docker compose up`).
set -eu
for db in "$DBNAME" "$VISIBILITY_DBNAME"; do
  temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$db" create-database || true
done
base=/etc/temporal/schema/postgresql/v12
temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$DBNAME" setup-schema -v 0.0
temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$DBNAME" update-schema -d "$base/temporal/versioned"
temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$VISIBILITY_DBNAME" update-schema -d "$base/visibility/versioned"
