package loadgen

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// eventIDLen is the length of a ULID, the shape of Customer.io event ids.
const eventIDLen = 26

// appendEventID appends a ULID-like id: 48 bits of milliseconds, then 80
// random bits. Two ids collide only if both land in the same millisecond
// with the same 80 random bits.
func appendEventID(dst []byte, now time.Time, rng *rand.Rand) []byte {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := 6; i < 14; i++ {
		b[i] = byte(hi >> (8 * (i - 6)))
	}
	b[14], b[15] = byte(lo), byte(lo>>8)
	// 128 bits as 26 base32 digits, most significant first (the top digit
	// holds only 3 bits, as in the ULID spec).
	var x0, x1 uint64 // high and low halves
	for i := 0; i < 8; i++ {
		x0 = x0<<8 | uint64(b[i])
		x1 = x1<<8 | uint64(b[i+8])
	}
	var out [eventIDLen]byte
	for i := eventIDLen - 1; i >= 0; i-- {
		out[i] = crockford[x1&31]
		x1 = x1>>5 | x0<<59
		x0 >>= 5
	}
	return append(dst, out[:]...)
}

// metrics are the email metrics the generator cycles through.
var metrics = [...]string{"sent", "delivered", "opened", "clicked"}

// appendEvent appends a Customer.io-shaped email event to dst with the
// given id, padded with a "subject"-like text field so the whole body is
// about size bytes (never less than the unpadded event).
func appendEvent(dst, id []byte, now time.Time, rng *rand.Rand, size int) []byte {
	start := len(dst)
	customer := rng.IntN(1_000_000)
	dst = append(dst, `{"event_id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","object_type":"email","metric":"`...)
	dst = append(dst, metrics[rng.IntN(len(metrics))]...)
	dst = append(dst, `","timestamp":`...)
	dst = strconv.AppendInt(dst, now.Unix(), 10)
	dst = append(dst, `,"data":{"campaign_id":`...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(500)), 10)
	dst = append(dst, `,"action_id":`...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(5000)), 10)
	dst = append(dst, `,"customer_id":"user-`...)
	dst = strconv.AppendInt(dst, int64(customer), 10)
	dst = append(dst, `","delivery_id":"RPILAgABkW9vQ2xu`...)
	dst = append(dst, id[14:]...)
	dst = append(dst, `","identifiers":{"id":"user-`...)
	dst = strconv.AppendInt(dst, int64(customer), 10)
	dst = append(dst, `","email":"user-`...)
	dst = strconv.AppendInt(dst, int64(customer), 10)
	dst = append(dst, `@example.com"},"recipient":"user-`...)
	dst = strconv.AppendInt(dst, int64(customer), 10)
	dst = append(dst, `@example.com","subject":"Load test `...)
	const tail = `"}}`
	for pad := size - (len(dst) - start) - len(tail); pad > 0; pad-- {
		dst = append(dst, 'a'+byte(pad%26))
	}
	return append(dst, tail...)
}
