package deps
import (
 _ "github.com/valyala/fasthttp"
 _ "github.com/rs/zerolog"
 _ "github.com/xeipuuv/gojsonschema"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "modernc.org/sqlite"
)
