package pgload

import (
	"testing"

	"github.com/cio-singer/tap-customerio-webhook/target"
)

func TestCreateTableSQL(t *testing.T) {
	tests := []struct {
		name  string
		table target.Table
		want  string
	}{
		{
			name: "every type with a key",
			table: target.Table{Name: "data", Keys: []string{"event_id"}, Columns: []target.Column{
				{Name: "event_id", Type: target.TypeText}, {Name: "n", Type: target.TypeBigint},
				{Name: "x", Type: target.TypeNumeric}, {Name: "ok", Type: target.TypeBoolean},
				{Name: "at", Type: target.TypeTimestamp}, {Name: "data", Type: target.TypeJSON},
			}},
			want: `CREATE TABLE IF NOT EXISTS "cio"."data" ("event_id" text, "n" bigint, "x" numeric, "ok" boolean, "at" timestamptz, "data" jsonb, PRIMARY KEY ("event_id"))`,
		},
		{
			name:  "no key",
			table: target.Table{Name: "log", Columns: []target.Column{{Name: "msg", Type: target.TypeText}}},
			want:  `CREATE TABLE IF NOT EXISTS "cio"."log" ("msg" text)`,
		},
		{
			name: "quotes in names are escaped, compound key",
			table: target.Table{Name: `we"ird`, Keys: []string{"a", `b"c`}, Columns: []target.Column{
				{Name: "a", Type: target.TypeBigint}, {Name: `b"c`, Type: target.TypeText}}},
			want: `CREATE TABLE IF NOT EXISTS "cio"."we""ird" ("a" bigint, "b""c" text, PRIMARY KEY ("a", "b""c"))`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := createTableSQL("cio", tc.table); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAlterTableSQL(t *testing.T) {
	tests := []struct {
		name  string
		add   []target.Column
		widen []widening
		want  string
	}{
		{name: "nothing", want: ""},
		{
			name: "add columns",
			add:  []target.Column{{Name: "a", Type: target.TypeText}, {Name: "b", Type: target.TypeJSON}},
			want: `ALTER TABLE "public"."t" ADD COLUMN IF NOT EXISTS "a" text, ADD COLUMN IF NOT EXISTS "b" jsonb`,
		},
		{
			name:  "bigint to numeric",
			widen: []widening{{Column: "n", From: target.TypeBigint, To: target.TypeNumeric}},
			want:  `ALTER TABLE "public"."t" ALTER COLUMN "n" TYPE numeric USING "n"::numeric`,
		},
		{
			name:  "bigint to text",
			widen: []widening{{Column: "n", From: target.TypeBigint, To: target.TypeText}},
			want:  `ALTER TABLE "public"."t" ALTER COLUMN "n" TYPE text USING "n"::text`,
		},
		{
			name:  "timestamp to text keeps ISO 8601",
			widen: []widening{{Column: "at", From: target.TypeTimestamp, To: target.TypeText}},
			want:  `ALTER TABLE "public"."t" ALTER COLUMN "at" TYPE text USING to_jsonb("at") #>> '{}'`,
		},
		{
			name:  "text to jsonb",
			widen: []widening{{Column: "s", From: target.TypeText, To: target.TypeJSON}},
			want:  `ALTER TABLE "public"."t" ALTER COLUMN "s" TYPE jsonb USING to_jsonb("s")`,
		},
		{
			name:  "add and widen in one statement",
			add:   []target.Column{{Name: "new", Type: target.TypeBoolean}},
			widen: []widening{{Column: "s", From: target.TypeBoolean, To: target.TypeText}},
			want:  `ALTER TABLE "public"."t" ADD COLUMN IF NOT EXISTS "new" boolean, ALTER COLUMN "s" TYPE text USING "s"::text`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := alterTableSQL("public", "t", tc.add, tc.widen); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestUpsertSQL(t *testing.T) {
	tests := []struct {
		name          string
		columns, keys []string
		want          string
	}{
		{
			name: "update non-key columns", columns: []string{"event_id", "metric", "data"}, keys: []string{"event_id"},
			want: `INSERT INTO "s"."t" ("event_id", "metric", "data") SELECT "event_id", "metric", "data" FROM "_pgload_staging" ON CONFLICT ("event_id") DO UPDATE SET "metric" = EXCLUDED."metric", "data" = EXCLUDED."data"`,
		},
		{
			name: "only keys", columns: []string{"a", "b"}, keys: []string{"b", "a"},
			want: `INSERT INTO "s"."t" ("a", "b") SELECT "a", "b" FROM "_pgload_staging" ON CONFLICT ("b", "a") DO NOTHING`,
		},
		{
			name: "quoted names", columns: []string{`k"`, "v"}, keys: []string{`k"`},
			want: `INSERT INTO "s"."t" ("k""", "v") SELECT "k""", "v" FROM "_pgload_staging" ON CONFLICT ("k""") DO UPDATE SET "v" = EXCLUDED."v"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := upsertSQL("s", "t", tc.columns, tc.keys); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCreateStagingSQL(t *testing.T) {
	want := `CREATE TEMP TABLE "_pgload_staging" (LIKE "s"."t" INCLUDING DEFAULTS) ON COMMIT DROP`
	if got := createStagingSQL("s", "t"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestColumnTypeRoundTrip(t *testing.T) {
	// What we create must read back as the same logical type, or EnsureTable
	// would try to widen its own columns on every run.
	for _, ct := range []target.ColumnType{target.TypeText, target.TypeBigint, target.TypeNumeric,
		target.TypeBoolean, target.TypeTimestamp, target.TypeJSON} {
		typname := map[string]string{"text": "text", "bigint": "int8", "numeric": "numeric",
			"boolean": "bool", "timestamptz": "timestamptz", "jsonb": "jsonb"}[sqlType(ct)]
		if got := columnType(typname); got != ct {
			t.Errorf("type %d: created as %s (%s), read back as %d", ct, sqlType(ct), typname, got)
		}
	}
}
