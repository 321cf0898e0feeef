package deps

import (
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/rs/zerolog"
	_ "github.com/valyala/fasthttp"
	_ "github.com/xeipuuv/gojsonschema"
	_ "modernc.org/sqlite"
)
