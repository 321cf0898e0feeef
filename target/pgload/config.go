package pgload

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cio-singer/tap-customerio-webhook/internal/config"
)

// Config holds the connection settings of target-postgres. The key names
// follow pipelinewise-target-postgres so users can switch.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string // never logged
	DBName   string
	// DSN is a libpq URL or keyword/value string; when set it is used
	// instead of Host, Port, User, Password and DBName.
	DSN string
	// Schema is default_target_schema, created if missing.
	Schema string

	database string   // the key "database", an alias of dbname
	ignored  []string // keys given beside dsn, which overrides them
}

// DefaultConfig returns the settings an empty config file gives.
func DefaultConfig() Config { return configTable().Defaults() }

// configTable declares the keys of Config, for the target core to read.
func configTable() config.Table[Config] {
	return config.Table[Config]{Settings: []config.Setting[Config]{
		config.Field("host", config.String, func(c *Config) *string { return &c.Host }).Default("localhost").
			Doc("PostgreSQL host name or address"),
		config.Field("port", config.Int(1, 65535), func(c *Config) *int { return &c.Port }).Default(5432).
			Doc("PostgreSQL port"),
		config.Field("user", config.String, func(c *Config) *string { return &c.User }).
			Doc("user name (libpq default: the OS user)"),
		config.Field("password", config.String, func(c *Config) *string { return &c.Password }).Secret().
			Doc("password"),
		config.Field("dbname", config.String, func(c *Config) *string { return &c.DBName }).
			Doc("database name (libpq default: the user name)"),
		config.Field("database", config.String, func(c *Config) *string { return &c.database }).
			Doc("alias of dbname; when both are set they must agree"),
		config.Field("dsn", config.String, func(c *Config) *string { return &c.DSN }).Secret().
			Doc("libpq connection URL or key=value string; overrides host, port, user, password and dbname"),
		config.Field("default_target_schema", config.String, func(c *Config) *string { return &c.Schema }).Default("public").
			Doc("schema of the stream tables; created if missing"),
	}, Check: checkConfig}
}

// checkConfig is the rules between the keys: dbname and its alias, a host
// or a dsn, a schema name PostgreSQL can hold, a connection string pgx
// parses.
func checkConfig(c *Config, given config.Values) config.Errors {
	var errs config.Errors
	switch {
	case c.DBName == "":
		c.DBName = c.database
	case c.database != "" && c.database != c.DBName:
		errs = append(errs, config.Errorf("database", "is an alias of dbname, and the two name different databases: set one of them"))
	}
	if c.DSN == "" && strings.TrimSpace(c.Host) == "" {
		errs = append(errs, config.Errorf("host", "must not be empty"))
	}
	switch {
	case c.Schema == "":
		errs = append(errs, config.Errorf("default_target_schema", "must not be empty"))
	case len(c.Schema) > maxIdentifierBytes:
		errs = append(errs, config.Errorf("default_target_schema", "is %d bytes; PostgreSQL names hold at most %d", len(c.Schema), maxIdentifierBytes))
	}
	if _, err := c.poolConfig(); err != nil && len(errs) == 0 {
		key := "host"
		if c.DSN != "" {
			key = "dsn"
		}
		errs = append(errs, &config.Error{Key: key, Err: err}) // pgconn redacts the password in its parse errors
	}
	if c.DSN != "" {
		for _, k := range []string{"host", "port", "user", "password", "dbname", "database"} {
			if given.Has(k) {
				c.ignored = append(c.ignored, k)
			}
		}
	}
	return errs
}

// connString returns the libpq connection string for c.
func (c Config) connString() string {
	if c.DSN != "" {
		return c.DSN
	}
	parts := []string{"host=" + quoteConnValue(c.Host), "port=" + strconv.Itoa(c.Port)}
	if c.User != "" {
		parts = append(parts, "user="+quoteConnValue(c.User))
	}
	if c.Password != "" {
		parts = append(parts, "password="+quoteConnValue(c.Password))
	}
	if c.DBName != "" {
		parts = append(parts, "dbname="+quoteConnValue(c.DBName))
	}
	return strings.Join(parts, " ")
}

// quoteConnValue quotes a keyword/value connection-string value as libpq
// does: single quotes, with \ and ' escaped by a backslash.
func quoteConnValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// poolConfig parses the connection settings into a pool configuration.
func (c Config) poolConfig() (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(c.connString())
	if err != nil {
		return nil, err
	}
	// The core loads from one goroutine; one spare connection lets a
	// replacement be dialled while a dead one is being discarded.
	pc.MaxConns = 2
	// Ping every connection when it is acquired: after a server restart the
	// idle ones are dead, and a ping (one round trip per batch) swaps them
	// for fresh ones before the load starts, so a restart costs no batch.
	pc.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	return pc, nil
}
