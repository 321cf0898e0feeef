// Package appapi reads the history that webhooks never sent from
// Customer.io's App API, as the tap's streams deliveries (GET /v1/messages,
// incremental on created), campaigns, broadcasts, newsletters and
// transactional_messages (whole tables).
//
// Shapes, paths and parameters come from Customer.io's published App API
// reference (docs.customer.io/api/app) and its OpenAPI document, read from
// the generated copies in github.com/simplyrootd/customer-io-dart
// (gen/customer_io_api.yaml: paths, answer shapes, limit maximum 1000,
// start/next paging) and github.com/s3cur3/customer-io
// (lib/customer_io/app/messages.ex, from a later version of the document:
// start_ts and end_ts on GET /v1/messages, "the most recent 6 months" when
// they are absent). singer-io/tap-customerio reads the same endpoints (its
// messages stream is a full table each run, its extra metric names
// human_opened, prefetch_opened, ... are in schemas/deliveries.json).
//
// Guarantees:
//   - At most 10 requests a second leave a [Client] (a token bucket on an
//     injected clock); a 429 waits for its Retry-After, a 5xx or a
//     transport failure is retried with doubling waits a bounded number of
//     times; every wait and request ends with its context.
//   - Nothing read is lost: the deliveries bookmark moves only after every
//     page of a window was handed to the [Sink]; a refused paging cursor
//     reads its window again from the start; a failed stream keeps its
//     bookmark and the next run reads from there. Records may come twice
//     (their key is id), never not at all.
//   - The key and the answers (they hold e-mail addresses) are never logged
//     nor put in errors.
//
// Usage:
//
//	base, _ := appapi.BaseURL(cfg.Region, cfg.URL)
//	c, _ := appapi.New(appapi.Options{BaseURL: base, Key: cfg.Key, Log: log})
//	r := appapi.NewRunner(c, appapi.RunOptions{StartDate: cfg.StartDate, Log: log})
//	results, err := r.Run(ctx, schemas.AppAPIStreams(), bookmarks, sink)
package appapi
