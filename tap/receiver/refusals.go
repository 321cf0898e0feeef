package receiver

import (
	"sync"
	"sync/atomic"
)

// refusedCodes are the answers a webhook with a known token can get besides
// 200, counted per token: a signing key rotated on one side shows as 401s
// on one token, a proxy or client bug as 405s, a too-small limit as 413s,
// a full spool or budget as 503s. Anything else (408, 400) counts as 0.
var refusedCodes = [...]int{401, 405, 413, 503, 0}

// tokenRefusals counts refusals of webhooks whose token matched, per token
// id. Safe for concurrent use; refusals are off the hot path.
type tokenRefusals struct{ byID sync.Map } // token id -> *[len(refusedCodes)]atomic.Uint64

func (r *tokenRefusals) add(tokenID string, status int) {
	if tokenID == "" {
		return
	}
	v, ok := r.byID.Load(tokenID)
	if !ok {
		v, _ = r.byID.LoadOrStore(tokenID, new([len(refusedCodes)]atomic.Uint64))
	}
	counts := v.(*[len(refusedCodes)]atomic.Uint64) //nolint:forcetypeassert // only this type is stored
	i := len(refusedCodes) - 1
	for j, c := range refusedCodes[:i] {
		if c == status {
			i = j
		}
	}
	counts[i].Add(1)
}

// TokenRefusals returns, per token id, how many webhooks with that token
// were refused, by status code (0: any other code). Only tokens that had a
// refusal appear.
func (s *Server) TokenRefusals() map[string]map[int]uint64 {
	out := map[string]map[int]uint64{}
	s.refusals.byID.Range(func(k, v any) bool {
		counts := v.(*[len(refusedCodes)]atomic.Uint64) //nolint:forcetypeassert // only this type is stored
		m := map[int]uint64{}
		for i, c := range refusedCodes {
			if n := counts[i].Load(); n > 0 {
				m[c] = n
			}
		}
		out[k.(string)] = m //nolint:forcetypeassert // keys are token ids
		return true
	})
	return out
}
