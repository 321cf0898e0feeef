#!/usr/bin/env bash
# make run: the zero-setup pipeline. Receives Customer.io webhooks on
# 127.0.0.1:8080 with the demo token of config.example.json and loads them
# into ./customerio.db. The target's state lines go to state.json, so the
# next `make run` resumes where this one stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

token=$(sed -n 's/.*"webhook_tokens": *\[ *"\([^"]*\)".*/\1/p' config.example.json)
url="http://127.0.0.1:8080/webhook/$token"
state_args=()
if [ -s state.json ]; then
  tail -n 1 state.json > state.json.last
  state_args=(--state state.json.last)
fi

cat >&2 <<MSG

  Webhook URL:  $url
  Loading into: ./customerio.db (table "data", rejected bodies in "rejected")

  Try it:
    curl -X POST --data-binary @testdata/payloads/email_sent.json $url
    sqlite3 customerio.db 'select event_id, metric, _sdc_extracted_at from data'

  Ctrl-C stops both programs after the last event is loaded.

MSG

# Ctrl-C reaches the tap only (setsid keeps the target out of the
# terminal's process group): the tap answers 503, emits what it holds and
# exits; the target then reads the end of input, loads the rest and prints
# the final state.
bin/tap-customerio-webhook --config config.example.json "${state_args[@]}" \
  | setsid bin/target-sqlite --config target-sqlite.example.json >> state.json
