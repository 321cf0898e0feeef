// Package config is the one settings layer of the tap and the targets: each
// program declares its keys as rows of a [Table] (name, type, default,
// description, secret flag, and how the value is decoded and checked), and
// everything about its configuration follows from those rows:
//
//   - [Read] parses the JSON config file strictly (package jsonconfig: a key
//     set twice or text after the object is an error);
//   - [Values.ApplyEnv] lets an environment variable <PREFIX><KEY> win over
//     the file;
//   - [Table.Decode] fills the program's Config, defaults included, and
//     returns every problem at once as [Errors], each an [*Error] naming its
//     key once;
//   - [Table.About] feeds --about (text, JSON for Meltano, and the Markdown
//     table the README carries, which a test compares).
//
// One rule for a value that is absent holds everywhere: JSON null, and an
// environment variable that is empty (or null for a non-string setting),
// leave the setting unset, so its default applies. Orchestrators write
// null, or export an empty variable, for settings left empty.
//
// Usage:
//
//	vals, errs := config.Read(data)
//	vals.ApplyEnv(prefix, table.About(), os.LookupEnv)
//	var cfg Config
//	errs = append(errs, table.Decode(&cfg, vals)...)
//	if err := errs.Err(); err != nil { /* print err, exit 2 */ }
package config
