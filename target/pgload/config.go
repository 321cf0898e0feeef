package pgload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cio-singer/tap-customerio-webhook/internal/about"
	"github.com/cio-singer/tap-customerio-webhook/target"
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
}

// DefaultConfig returns the settings an empty config file gives.
func DefaultConfig() Config {
	return Config{Host: "localhost", Port: 5432, Schema: "public"}
}

// settings describes the keys of Config for --about and env overrides.
func settings() []about.Setting {
	return []about.Setting{
		{Name: "host", Type: "string", Default: "localhost", Description: "PostgreSQL host name or address"},
		{Name: "port", Type: "integer", Default: 5432, Description: "PostgreSQL port"},
		{Name: "user", Type: "string", Description: "user name (libpq default: the OS user)"},
		{Name: "password", Type: "string", Secret: true, Description: "password"},
		{Name: "dbname", Type: "string", Description: "database name (libpq default: the user name)"},
		{Name: "database", Type: "string", Description: "alias of dbname; when both are set they must agree"},
		{Name: "dsn", Type: "string", Secret: true, Description: "libpq connection URL or key=value string; overrides host, port, user, password and dbname"},
		{Name: "default_target_schema", Type: "string", Default: "public", Description: "schema of the stream tables; created if missing"},
	}
}

// parseConfig reads the loader's keys over DefaultConfig and reports every
// bad value at once, each as a *target.ConfigError naming its key.
func parseConfig(raw map[string]json.RawMessage) (Config, error) {
	c := DefaultConfig()
	var errs []error
	bad := func(key, msg string) { errs = append(errs, &target.ConfigError{Key: key, Msg: msg}) }
	str := func(key string, dst *string) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			bad(key, "must be a string")
		}
	}
	str("host", &c.Host)
	str("user", &c.User)
	str("password", &c.Password)
	var alias string
	str("database", &alias)
	str("dbname", &c.DBName)
	switch {
	case c.DBName == "":
		c.DBName = alias
	case alias != "" && alias != c.DBName:
		bad("database", "is an alias of dbname, and the two name different databases: set one of them")
	}
	str("dsn", &c.DSN)
	str("default_target_schema", &c.Schema)
	if v, ok := raw["port"]; ok && string(v) != "null" {
		port, err := parsePort(v)
		if err != nil {
			bad("port", err.Error())
		}
		c.Port = port
	}
	if c.DSN == "" && strings.TrimSpace(c.Host) == "" {
		bad("host", "must not be empty")
	}
	switch {
	case c.Schema == "":
		bad("default_target_schema", "must not be empty")
	case len(c.Schema) > maxIdentifierBytes:
		bad("default_target_schema", fmt.Sprintf("is %d bytes; PostgreSQL names hold at most %d", len(c.Schema), maxIdentifierBytes))
	}
	if _, err := c.poolConfig(); err != nil && len(errs) == 0 {
		key := "host"
		if c.DSN != "" {
			key = "dsn"
		}
		bad(key, err.Error()) // pgconn redacts the password in its parse errors
	}
	return c, errors.Join(errs...)
}

// parsePort accepts a JSON number or a numeric string (env overrides and
// some orchestrators give strings).
func parsePort(v json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, errors.New("must be an integer")
		}
		n = json.Number(strings.TrimSpace(s))
	}
	port, err := strconv.Atoi(n.String())
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", n.String())
	}
	return port, nil
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
