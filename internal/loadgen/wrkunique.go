package loadgen

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
)

// signaturePlaceholder stands for the X-CIO-Signature of a request whose
// event_id is only known when wrk sends it; request() overwrites it.
var signaturePlaceholder = strings.Repeat("0", 2*sha256.Size)

// writeUniqueFunctions writes the Lua of a --unique-ids script: the HMAC
// pads of key (none when key is empty: unsigned requests) and the signed
// prefix "v0:<timestamp>:", then wrkUniqueFunctions and wrkDone.
//
// A run at tens of thousands of requests per second for a minute needs
// millions of distinct events; pre-signed, they would take gigabytes in
// every wrk thread. Instead each request is a template whose event_id ends
// in the thread's number and a counter, and is signed as it is sent, with
// libcrypto's SHA-256 through LuaJIT's ffi (about a microsecond per 1 KB
// body), so wrk stays lighter than the servers it measures.
func writeUniqueFunctions(w io.Writer, key string, timestamp []byte) error {
	var inner, outer []byte
	if key != "" {
		k := []byte(key)
		if len(k) > sha256.BlockSize { // HMAC (RFC 2104) hashes long keys first
			sum := sha256.Sum256(k)
			k = sum[:]
		}
		inner, outer = make([]byte, sha256.BlockSize), make([]byte, sha256.BlockSize)
		for i := range inner {
			var b byte
			if i < len(k) {
				b = k[i]
			}
			inner[i], outer[i] = b^0x36, b^0x5c
		}
	}
	prefix := append(append([]byte("v0:"), timestamp...), ':')
	if _, err := fmt.Fprintf(w, "local signed = %t\nlocal inner_pad = %s\nlocal outer_pad = %s\nlocal signed_prefix = %s\nlocal placeholder = %s\n",
		key != "", luaString(inner), luaString(outer), luaString(prefix), luaString([]byte(signaturePlaceholder))); err != nil {
		return err
	}
	_, err := io.WriteString(w, wrkUniqueFunctions+wrkDone)
	return err
}

// wrkUniqueFunctions numbers wrk's threads (setup), turns every request of
// reqs into a byte buffer once per thread (init), then for each request
// (request) writes a new event_id into the next buffer: its last ten
// base32 digits are the thread's number and the thread's request count,
// so no two requests of one wrk run share an id. Then it signs the body:
// HMAC-SHA256 from the key's precomputed pads, written in hex over the
// placeholder. The scripts's bodies must be JSON with "event_id" first.
const wrkUniqueFunctions = `
local ffi = require("ffi")
local bit = require("bit")
ffi.cdef[[
typedef struct { unsigned int h[8]; unsigned int Nl, Nh; unsigned int data[16]; unsigned int num, md_len; } cio_sha256_ctx;
int SHA256_Init(cio_sha256_ctx *c);
int SHA256_Update(cio_sha256_ctx *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, cio_sha256_ctx *c);
]]

-- libcrypto: linked into wrk (ffi.C) or loaded by name.
local function libcrypto()
  for _, name in ipairs({"", "libcrypto.so.3", "libcrypto.so.1.1", "crypto"}) do
    local ok, lib = pcall(function()
      local l = name == "" and ffi.C or ffi.load(name)
      local _ = l.SHA256_Update
      return l
    end)
    if ok then return lib end
  end
  error("cio-loadgen wrk-script --unique-ids: LuaJIT's ffi finds no libcrypto (SHA256_Update) to sign with")
end

local threads = 0
function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

local C, inner, outer, ctx, md, digits, hex
local templates = {}
local n, sent = 0, 0
local sig_header = "X-CIO-Signature: "
function init(args)
  if thread_number == nil or thread_number >= 32 then
    error("cio-loadgen wrk-script --unique-ids: at most 32 wrk threads")
  end
  digits = ffi.new("uint8_t[32]")
  ffi.copy(digits, "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 32)
  hex = ffi.new("uint8_t[16]")
  ffi.copy(hex, "0123456789abcdef", 16)
  if signed then
    C = libcrypto()
    inner, outer, ctx = ffi.new("cio_sha256_ctx"), ffi.new("cio_sha256_ctx"), ffi.new("cio_sha256_ctx")
    md = ffi.new("unsigned char[32]")
    C.SHA256_Init(inner)
    C.SHA256_Update(inner, inner_pad, 64)
    C.SHA256_Init(outer)
    C.SHA256_Update(outer, outer_pad, 64)
  end
  for i, r in ipairs(reqs) do
    local req = wrk.format("POST", path, r.headers, r.body)
    local id = string.find(r.body, '"event_id":"', 1, true)
    if id == nil or #r.body < id + 11 + 26 then error("cio-loadgen wrk-script: a template has no event_id") end
    local t = {len = #req, body = #req - #r.body, body_len = #r.body}
    t.id = t.body + id - 1 + 12
    if signed then
      local s = string.find(req, sig_header .. placeholder, 1, true)
      if s == nil then error("cio-loadgen wrk-script: a template has no signature placeholder") end
      t.sig = s - 1 + #sig_header
    end
    t.buf = ffi.new("uint8_t[?]", #req)
    ffi.copy(t.buf, req, #req)
    templates[i] = t
  end
end

function request()
  n = n % #templates + 1
  sent = sent + 1
  local t = templates[n]
  local b = t.buf
  b[t.id + 16] = digits[thread_number]
  local v = sent
  for i = t.id + 25, t.id + 17, -1 do
    local d = v % 32
    b[i] = digits[d]
    v = (v - d) / 32
  end
  if signed then
    ffi.copy(ctx, inner, ffi.sizeof(ctx))
    C.SHA256_Update(ctx, signed_prefix, #signed_prefix)
    C.SHA256_Update(ctx, b + t.body, t.body_len)
    C.SHA256_Final(md, ctx)
    ffi.copy(ctx, outer, ffi.sizeof(ctx))
    C.SHA256_Update(ctx, md, 32)
    C.SHA256_Final(md, ctx)
    local s = t.sig
    for i = 0, 31 do
      local x = md[i]
      b[s + 2 * i] = hex[bit.rshift(x, 4)]
      b[s + 2 * i + 1] = hex[bit.band(x, 15)]
    end
  end
  return ffi.string(b, t.len)
end
`
