package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cio-singer/tap-customerio-webhook/schemas"
	"github.com/cio-singer/tap-customerio-webhook/tap/appapi/appapitest"
	_ "modernc.org/sqlite"
)

// demoEvent is one generated webhook event and what the analyst's
// questions need to know about it, kept apart from its JSON so that the
// expected answers are computed without the views' parsing.
type demoEvent struct {
	metric   string
	at       time.Time
	delivery string
	campaign int64 // 0: not from a campaign
	domain   string
	body     []byte
}

// demoEvents generates email traffic relative to now: campaigns 101 and
// 102 sent last week (Wednesday, Thursday in UTC, far from the week's
// edges in any time zone), campaign 103 the week before, and a newsletter
// last week; opens (some twice, one in the legacy format), clicks (the
// first one counts), and bounces spread over domains written in the ways
// recipients arrive ("Name <Addr@Domain>", upper case).
func demoEvents(now time.Time) []demoEvent {
	weekday := (int(now.UTC().Weekday()) + 6) % 7 // Monday = 0
	thisWeek := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day()-weekday, 0, 0, 0, 0, time.UTC)
	lastWeek := thisWeek.AddDate(0, 0, -7)
	domains := []string{"example.com", "example.org", "mail.example.net", "example.com", "corp.example"}
	recipient := func(i int, domain string) string {
		switch i % 3 {
		case 0:
			return fmt.Sprintf("person%d@%s", i, domain)
		case 1:
			return fmt.Sprintf("Person %d <Person%d@%s>", i, i, strings.ToUpper(domain))
		}
		return fmt.Sprintf(" person%d@%s ", i, domain)
	}
	var out []demoEvent
	add := func(metric string, at time.Time, delivery string, campaign int64, domain, rcpt string, extra map[string]any) {
		data := map[string]any{"delivery_id": delivery, "recipient": rcpt, "subject": "Demo",
			"identifiers": map[string]any{"id": "user-" + delivery, "email": nil}}
		if campaign != 0 {
			data["campaign_id"], data["action_id"] = campaign, 7
		} else {
			data["newsletter_id"] = 5
		}
		for k, v := range extra {
			data[k] = v
		}
		body := map[string]any{"event_id": fmt.Sprintf("demo-%04d", len(out)), "object_type": "email",
			"metric": metric, "timestamp": at.Unix(), "data": data}
		if len(out)%7 == 3 {
			body["timestamp"] = strconv.FormatInt(at.Unix(), 10) // as test events send it
		}
		raw, _ := json.Marshal(body)
		out = append(out, demoEvent{metric, at, delivery, campaign, domain, raw})
	}
	for i := range 60 {
		var campaign int64 = 101 + int64(i%3)
		base := lastWeek.Add(50*time.Hour + time.Duration(i)*37*time.Minute) // Wed 02:00 onwards
		switch {
		case i%3 == 2 && i%2 == 0:
			campaign = 103
			base = base.AddDate(0, 0, -7)
		case i%3 == 2:
			campaign = 0 // newsletter
		}
		delivery := fmt.Sprintf("dlv-%03d", i)
		domain := domains[(i/5)%len(domains)] // each block of 5 has a bounce (i%5 == 4)
		rcpt := recipient(i, domain)
		add("sent", base, delivery, campaign, domain, rcpt, nil)
		if i%5 == 4 || i == 10 {
			add("bounced", base.Add(2*time.Minute), delivery, campaign, domain, rcpt, map[string]any{"failure_message": "550 mailbox unavailable"})
			continue
		}
		if i%4 != 1 {
			add("opened", base.Add(time.Duration(10+i)*time.Minute), delivery, campaign, domain, rcpt, map[string]any{"prefetched": i%8 == 0})
		}
		if i%6 == 0 {
			add("opened", base.Add(30*time.Hour), delivery, campaign, domain, rcpt, nil) // opened again
		}
		if i%4 == 0 {
			first := base.Add(time.Duration(15+i*i%97) * time.Minute)
			add("clicked", first.Add(90*time.Minute), delivery, campaign, domain, rcpt, map[string]any{"href": "https://shop.example.com/a", "link_id": 2})
			add("clicked", first, delivery, campaign, domain, rcpt, map[string]any{"href": "https://shop.example.com/b", "link_id": 1})
		}
	}
	return out
}

// legacyOpen is an open of delivery in the pre-2020 format, which names
// ids as strings and the delivery email_id.
func legacyOpen(at time.Time, delivery string, campaign int64) demoEvent {
	raw, _ := json.Marshal(map[string]any{"event_id": "demo-legacy-" + delivery, "event_type": "email_opened",
		"timestamp": at.Unix(), "data": map[string]any{"campaign_id": strconv.FormatInt(campaign, 10),
			"email_id": delivery, "email_address": "Someone <someone@example.com>", "subject": "Demo"}})
	return demoEvent{metric: "opened", at: at, delivery: delivery, campaign: campaign, body: raw}
}

// readmeQuery returns the body of the ```sql block in README.md whose first
// line is title, so the test runs exactly what the README shows.
func readmeQuery(t *testing.T, title string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "```sql\n"+title+"\n")
	if start < 0 {
		t.Fatalf("README.md has no ```sql block starting with %q", title)
	}
	body := string(readme)[start+len("```sql\n"):]
	end := strings.Index(body, "```")
	if end < 0 {
		t.Fatalf("unterminated block %q", title)
	}
	return body[:end]
}

// makeViews runs `make views` as the README says, with the harness's psql.
func makeViews(t *testing.T, dsn string) string {
	t.Helper()
	path, err := pg.Tool("psql")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("make", "-C", "..", "--no-print-directory", "views", "PGDSN="+dsn, "SCHEMA=customerio", "PSQL="+path).CombinedOutput()
	if err != nil {
		t.Fatalf("make views: %v\n%s", err, out)
	}
	return string(out)
}

// psqlUTC is psql with the session in UTC, so "last week" is the UTC week.
func psqlUTC(t *testing.T, dsn, query string) []string {
	t.Helper()
	t.Setenv("PGTZ", "UTC")
	return psql(t, dsn, query)
}

// loadSinger pipes messages into the real target-postgres binary.
func loadSinger(t *testing.T, target string, cfg map[string]any, messages []map[string]any) {
	t.Helper()
	var in bytes.Buffer
	for _, m := range messages {
		raw, _ := json.Marshal(m)
		in.Write(append(raw, '\n'))
	}
	path := filepath.Join(t.TempDir(), "target.json")
	writeJSON(t, path, cfg)
	cmd := exec.Command(filepath.Join(bin, target), "--config", path)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", target, err, out)
	}
}

func schemaMessage(t *testing.T, stream string) map[string]any {
	t.Helper()
	s, err := schemas.Load(stream)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"type": "SCHEMA", "stream": stream, "schema": s, "key_properties": []string{"id"}}
}

func near(got string, want float64) bool {
	f, err := strconv.ParseFloat(got, 64)
	return err == nil && math.Abs(f-want) < 0.051
}

// TestAnalyticsPostgres: the sample payloads and generated email traffic go
// through the real tap | target-postgres; the views are applied with psql;
// the README's three questions, run as the README prints them, answer what
// the test computes from the generated events.
func TestAnalyticsPostgres(t *testing.T) {
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	cfg := map[string]any{"dsn": dsn, "default_target_schema": "customerio", "max_batch_age": "200ms"}
	now := time.Now()
	events, posted := loadDemo(t, startPipeline(t, dir, "target-postgres", cfg, ""), now)
	if got := psql(t, dsn, "select count(*) from customerio.data")[0]; got != strconv.Itoa(posted) {
		t.Fatalf("%s rows in data, want %d", got, posted)
	}

	if out := makeViews(t, dsn); !strings.Contains(out, "notice: no App API tables") {
		t.Errorf("make views without the App API tables said:\n%s", out)
	}
	makeViews(t, dsn) // idempotent

	t.Run("channels", func(t *testing.T) { checkChannelViews(t, dsn) })

	want := expectedAnswers(t, events, now)
	for _, q := range analystQuestions {
		t.Run(q, func(t *testing.T) {
			checkRows(t, psqlUTC(t, dsn, readmeQuery(t, "-- PostgreSQL: "+q)), want[q])
		})
	}

	t.Run("deliveries joined to names", func(t *testing.T) {
		checkDeliveries(t, dsn, cfg, eventsOfCampaign(events, 101))
	})
}

// The README's questions, by the title of their SQL blocks after
// "-- PostgreSQL: " or "-- SQLite: ".
const (
	qOpenRate   = "open rate by campaign, last week"
	qBounces    = "bounces by recipient domain, last 30 days"
	qFirstClick = "time from sent to first click, by campaign, last 30 days"
)

var analystQuestions = []string{qOpenRate, qBounces, qFirstClick}

// expectedAnswers computes the rows each question must return from the
// generated events alone, as tab-separated text; numbers with a decimal
// point are compared to 0.05 (the queries round to one decimal). "Last
// week" is the UTC calendar week (Monday to Monday) before now's.
func expectedAnswers(t *testing.T, events []demoEvent, now time.Time) map[string][]string {
	t.Helper()
	u := now.UTC()
	thisWeek := time.Date(u.Year(), u.Month(), u.Day()-(int(u.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
	lastWeek := thisWeek.AddDate(0, 0, -7)
	monthAgo := now.Add(-30 * 24 * time.Hour)
	want := map[string][]string{}

	sentLastWeek := map[int64]map[string]bool{}
	opened := map[string]bool{}
	type counts struct{ sent, bounced int }
	byDomain := map[string]*counts{}
	sent := map[string]demoEvent{}
	firstClick := map[string]time.Time{}
	for _, e := range events {
		switch e.metric {
		case "sent":
			sent[e.delivery] = e
			if e.campaign != 0 && !e.at.Before(lastWeek) && e.at.Before(thisWeek) {
				if sentLastWeek[e.campaign] == nil {
					sentLastWeek[e.campaign] = map[string]bool{}
				}
				sentLastWeek[e.campaign][e.delivery] = true
			}
		case "opened":
			opened[e.delivery] = true
		case "clicked":
			if c, ok := firstClick[e.delivery]; !ok || e.at.Before(c) {
				firstClick[e.delivery] = e.at
			}
		}
		if e.domain != "" && !e.at.Before(monthAgo) && (e.metric == "sent" || e.metric == "bounced") {
			if byDomain[e.domain] == nil {
				byDomain[e.domain] = &counts{}
			}
			if e.metric == "sent" {
				byDomain[e.domain].sent++
			} else {
				byDomain[e.domain].bounced++
			}
		}
	}

	var campaigns []int64
	for c := range sentLastWeek {
		campaigns = append(campaigns, c)
	}
	sort.Slice(campaigns, func(i, j int) bool { return campaigns[i] < campaigns[j] })
	for _, c := range campaigns {
		o := 0
		for d := range sentLastWeek[c] {
			if opened[d] {
				o++
			}
		}
		n := len(sentLastWeek[c])
		want[qOpenRate] = append(want[qOpenRate], fmt.Sprintf("%d\t%d\t%d\t%.3f", c, n, o, 100*float64(o)/float64(n)))
	}

	var domains []string
	for d, c := range byDomain {
		if c.bounced > 0 {
			domains = append(domains, d)
		}
	}
	sort.Slice(domains, func(i, j int) bool {
		a, b := byDomain[domains[i]], byDomain[domains[j]]
		if a.bounced != b.bounced {
			return a.bounced > b.bounced
		}
		return domains[i] < domains[j]
	})
	for _, d := range domains {
		c := byDomain[d]
		want[qBounces] = append(want[qBounces], fmt.Sprintf("%s\t%d\t%d\t%.3f", d, c.sent, c.bounced, 100*float64(c.bounced)/float64(c.sent)))
	}

	minutes := map[int64][]float64{}
	for d, c := range firstClick {
		if s := sent[d]; !s.at.Before(monthAgo) {
			minutes[s.campaign] = append(minutes[s.campaign], c.Sub(s.at).Minutes())
		}
	}
	campaigns = campaigns[:0]
	for c := range minutes {
		campaigns = append(campaigns, c)
	}
	sort.Slice(campaigns, func(i, j int) bool { // campaign 0 (none: NULL) last
		return campaigns[j] == 0 || campaigns[i] != 0 && campaigns[i] < campaigns[j]
	})
	for _, c := range campaigns {
		m := minutes[c]
		sort.Float64s(m)
		median := (m[(len(m)-1)/2] + m[len(m)/2]) / 2
		var sum float64
		for _, x := range m {
			sum += x
		}
		id := ""
		if c != 0 {
			id = strconv.FormatInt(c, 10)
		}
		want[qFirstClick] = append(want[qFirstClick], fmt.Sprintf("%s\t%d\t%.3f\t%.3f", id, len(m), median, sum/float64(len(m))))
	}
	if len(want[qOpenRate]) != 2 || len(want[qBounces]) < 3 || len(want[qFirstClick]) < 2 {
		t.Fatalf("the generator no longer covers the questions: %q", want)
	}
	return want
}

// loadDemo posts the sample payloads, channelSamples and the generated
// events through the pipeline and stops it; it returns the generated events
// and how many bodies were posted.
func loadDemo(t *testing.T, p *pipeline, now time.Time) ([]demoEvent, int) {
	t.Helper()
	events := demoEvents(now)
	for _, e := range events {
		if e.delivery == "dlv-001" && e.metric == "sent" { // not opened otherwise
			events = append(events, legacyOpen(e.at.Add(time.Hour), e.delivery, e.campaign))
			break
		}
	}
	_, bodies := payloads(t)
	bodies = append(bodies, channelSamples...)
	for _, e := range events {
		bodies = append(bodies, e.body)
	}
	for _, b := range bodies {
		if code := do(t, "POST", p.tap.url(), b); code != 200 {
			t.Fatalf("POST: %d", code)
		}
	}
	p.stop(t)
	return events, len(bodies)
}

// TestAnalyticsSQLite: the same demo data through tap | target-sqlite, the
// SQLite views applied, and the README's SQLite questions checked.
func TestAnalyticsSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "customerio.db")
	now := time.Now()
	events, posted := loadDemo(t, startPipeline(t, dir, "target-sqlite", map[string]any{"database": path, "max_batch_age": "200ms"}, ""), now)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	views, err := os.ReadFile(filepath.Join("..", "analytics", "sqlite", "webhook_views.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if _, err := db.Exec(string(views)); err != nil {
			t.Fatalf("applying the SQLite views: %v", err)
		}
	}
	if got := sqliteRows(t, db, "select count(*), count(occurred_at) from cio_events"); len(got) != 1 || got[0] != fmt.Sprintf("%d\t%d", posted, posted-2) {
		t.Errorf("cio_events rows, with a time: %q; want %d, %d (two timestamps are not Unix seconds)", got, posted, posted-2)
	}
	checks := map[string]string{
		"select recipient_address, recipient_domain, campaign_id, delivery_id, legacy_format from cio_email where event_id = '01CA7XKQ3H5J7L9N1Q3S5U7W9Y'": "rita.gomes@example.com\texample.com\t14\tZI6aBAABYpQ0dWx0ZXN0MDAwMQ\t1",
		"select device_id, device_platform, device_count, broadcast_id from cio_push where event_id <> 's-hostile'":                                        "fcm-token-3f9a1c7e0b2d4f6a8c0e2b4d6f8a0c2e\tandroid\t1\t9",
		"select device_index, device_id from cio_push_devices":                                                                                             "1\tfcm-token-3f9a1c7e0b2d4f6a8c0e2b4d6f8a0c2e",
		"select object_type, replied_to from cio_sms where event_id = 's-whatsapp'":                                                                        "whatsapp\t+15550199999",
		"select tracked_response, link_id from cio_in_app":                                                                                                 "upgrade_now\t2",
		"select href, occurred_unix from cio_webhook":                                                                                                      "https://example.com/h\t1727900000",
		"select failure_message, occurred_at from cio_slack":                                                                                               "channel_not_found\t2024-10-02 20:13:21",
		"select group_concat(metric, ',') from (select metric from cio_customer order by metric)":                                                          "cio_subscription_preferences_changed,subscribed",
	}
	for q, want := range checks {
		if got := sqliteRows(t, db, q); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	want := expectedAnswers(t, events, now)
	for _, q := range analystQuestions {
		t.Run(q, func(t *testing.T) {
			checkRows(t, sqliteRows(t, db, readmeQuery(t, "-- SQLite: "+q)), want[q])
		})
	}

	t.Run("deliveries joined to names", func(t *testing.T) {
		msgs, want := appAPIDemo(t)
		loadSinger(t, "target-sqlite", map[string]any{"database": path}, msgs)
		views, err := os.ReadFile(filepath.Join("..", "analytics", "sqlite", "app_api_views.sql"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(views)); err != nil {
			t.Fatalf("applying the SQLite App API views: %v", err)
		}
		epoch := func(col string) string { return "cast(strftime('%s', " + col + ") as integer)" }
		checkRows(t, sqliteRows(t, db, fmt.Sprintf(deliveriesQuery, epoch("sent_at"), epoch("opened_at"), epoch("clicked_at"), "")), want)
		n := eventsOfCampaign(events, 101)
		if got := sqliteRows(t, db, "select count(*) from cio_events_named where campaign_name = 'Welcome series'"); got[0] != strconv.Itoa(n) {
			t.Errorf("cio_events_named: %s events of Welcome series, want %d", got[0], n)
		}
	})
}

// sqliteRows runs query and returns its rows as tab-separated text, NULL
// as "", as psql -At prints them.
func sqliteRows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fields := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				fields[i] = string(v)
			case float64:
				fields[i] = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				fields[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(fields, "\t"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRows compares tab-separated rows; a want field with a decimal point
// matches a value rounded to one decimal.
func checkRows(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := strings.Split(got[i], "\t"), strings.Split(want[i], "\t")
		if len(g) != len(w) {
			ok = false
			break
		}
		for j := range w {
			if f, err := strconv.ParseFloat(w[j], 64); err == nil && strings.Contains(w[j], ".") {
				ok = ok && near(g[j], f)
			} else {
				ok = ok && g[j] == w[j]
			}
		}
	}
	if !ok {
		t.Errorf("rows:\n%s\nwant (decimals to 0.05):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// channelSamples are events of the channels testdata/payloads lacks.
var channelSamples = [][]byte{
	[]byte(`{"event_id":"s-webhook","object_type":"webhook","metric":"clicked","timestamp":1727900000,"data":{"campaign_id":4,"action_id":9,"delivery_id":"w1","identifiers":{"id":"u1"},"recipient":"https://hooks.example.com/x","href":"https://example.com/h","link_id":5}}`),
	[]byte(`{"event_id":"s-slack","object_type":"slack","metric":"failed","timestamp":"1727900001","data":{"broadcast_id":3,"trigger_id":8,"action_id":9,"delivery_id":"s1","identifiers":{"id":"u2"},"failure_message":"channel_not_found"}}`),
	[]byte(`{"event_id":"s-whatsapp","object_type":"whatsapp","metric":"replied","timestamp":1727900002,"data":{"campaign_id":4,"action_id":9,"delivery_id":"wa1","identifiers":{"id":"u3"},"recipient":"+15550100000","to":"+15550199999","inbound_event_id":"in-1"}}`),
	[]byte(`{"event_id":"s-hostile","object_type":"push","metric":"sent","timestamp":99999999999999,"data":{"recipients":[],"campaign_id":"x","link_id":"12x","transactional_message_id":"tm-abc"}}`),
	[]byte(`{"event_id":"s-bad-ts","object_type":"email","metric":"sent","timestamp":"invalid timestamp format","data":{"campaign_id":"x","delivery_id":"b1","recipient":"a@b.example"}}`),
}

// checkChannelViews: each sample lands in its channel's view with its
// fields as columns.
func checkChannelViews(t *testing.T, dsn string) {
	checks := []struct{ view, eventID, cols, want string }{
		{"cio_email", "01J9A4QK7M2T5V8XWB3N6R0HDA", "metric, campaign_id, action_id, delivery_id, recipient_domain, subject, extract(epoch from occurred_at)::bigint, customer_id, headers->'X-Campaign-Tag'->>0",
			"sent\t27\t314\tdgOyBwYAAZIWvW1cFq3H9XbE2Lk=\texample.org\tYour October summary\t1727712043\tuser-7781\toctober-digest"},
		{"cio_email", "01J9B7C2ZP4QH6D8K0M2N4R6TX", "metric, newsletter_id, content_id, href, link_id, machine, campaign_id is null", "clicked\t58\t4\thttps://shop.example.com/new?utm_source=cio\t3\tf\tt"},
		{"cio_email", "01CA7XKQ3H5J7L9N1Q3S5U7W9Y", "object_type, metric, campaign_id, delivery_id, recipient_address, recipient_domain, legacy_format, campaign_name, template_id, customer_id",
			"email\topened\t14\tZI6aBAABYpQ0dWx0ZXN0MDAwMQ\trita.gomes@example.com\texample.com\tt\tOnboarding - day 3\t42\tcust_00451"},
		{"cio_email", "s-bad-ts", "occurred_at is null, campaign_id is null, recipient_domain", "t\tt\tb.example"},
		{"cio_push", "01J9D3H0VZ2BE5H7K9M1P3R5TW", "metric, broadcast_id, trigger_id, device_count, device_id, device_platform, cio_id",
			"delivered\t9\t41\t1\tfcm-token-3f9a1c7e0b2d4f6a8c0e2b4d6f8a0c2e\tandroid\td5a3b1000abc"},
		{"cio_push", "s-hostile", "occurred_at is null, campaign_id is null, link_id is null, transactional_message_id is null, device_count = 0, device_id is null", "t\tt\tt\tt\tt\tt"},
		{"cio_push_devices", "01J9D3H0VZ2BE5H7K9M1P3R5TW", "device_index, device_id, device_platform", "1\tfcm-token-3f9a1c7e0b2d4f6a8c0e2b4d6f8a0c2e\tandroid"},
		{"cio_email", "01J9E5K2XB4DG7J9M1P3R5T7VY", "", ""}, // sms
		{"cio_sms", "01J9E5K2XB4DG7J9M1P3R5T7VY", "metric, recipient, failure_message, campaign_id", "bounced\t+15550104477\tTwilio Error 30006: Landline or unreachable carrier\t33"},
		{"cio_sms", "s-whatsapp", "object_type, metric, recipient, replied_to, inbound_event_id", "whatsapp\treplied\t+15550100000\t+15550199999\tin-1"},
		{"cio_in_app", "01J9F7M4ZD6FJ9L1N3Q5S7V9XA", "metric, href, link_id, tracked_response, recipient", "clicked\tmyapp://upgrade\t2\tupgrade_now\tuser-2231"},
		{"cio_webhook", "s-webhook", "metric, recipient, href, link_id, campaign_id", "clicked\thttps://hooks.example.com/x\thttps://example.com/h\t5\t4"},
		{"cio_slack", "s-slack", "metric, failure_message, broadcast_id, extract(epoch from occurred_at)::bigint", "failed\tchannel_not_found\t3\t1727900001"},
		{"cio_customer", "01J9C0D5RW8YB1E3G5J7L9N1QS", "object_type, metric, customer_id, email_address, cio_id", "customer\tsubscribed\tuser-553\tsam.okoro@example.com\tc02d9e000789"},
		{"cio_customer", "01J9C1F8TX0ZC3G5J7L9N1Q3SU", "object_type, metric, campaign_id, preferences_json::jsonb->'topics'->>'topic_5'", "email\tcio_subscription_preferences_changed\t12\ttrue"},
	}
	for _, c := range checks {
		if c.cols == "" { // not in this view
			if rows := psql(t, dsn, "select 1 from customerio."+c.view+" where event_id = '"+c.eventID+"'"); len(rows) != 0 {
				t.Errorf("%s has %s", c.view, c.eventID)
			}
			continue
		}
		rows := psql(t, dsn, "select "+c.cols+" from customerio."+c.view+" where event_id = '"+c.eventID+"'")
		if len(rows) != 1 || rows[0] != c.want {
			t.Errorf("%s %s: %q\nwant %q", c.view, c.eventID, rows, c.want)
		}
	}
	// Each event is in exactly one channel view, but the one whose
	// object_type is customer.
	views := []string{"cio_email", "cio_push", "cio_sms", "cio_in_app", "cio_webhook", "cio_slack"}
	var union []string
	for _, v := range views {
		union = append(union, "select event_id from customerio."+v)
	}
	got := psql(t, dsn, "select (select count(*) from ("+strings.Join(union, " union all ")+") u), (select count(*) - 1 from customerio.data)")
	if f := strings.Split(got[0], "\t"); len(f) != 2 || f[0] != f[1] {
		t.Errorf("channel views hold %v rows of data (want all but one)", got)
	}
}

// appAPIDemo returns Singer messages of the App API streams shaped like the
// tap's (deliveries as appapitest serves them, with a campaign, a
// broadcast, a newsletter and an unknown campaign), and the rows expected
// from deliveriesQuery over cio_deliveries.
func appAPIDemo(t *testing.T) (msgs []map[string]any, want []string) {
	t.Helper()
	names := map[string][]map[string]any{
		schemas.Campaigns:             {{"id": 101, "name": "Welcome series", "type": "segment"}, {"id": 102, "name": "Winback"}},
		schemas.Broadcasts:            {{"id": 9, "name": "Flash sale"}},
		schemas.Newsletters:           {{"id": 5, "name": "November news"}},
		schemas.TransactionalMessages: {{"id": 3, "name": "Password reset"}},
	}
	for _, stream := range schemas.AppAPIStreams() {
		msgs = append(msgs, schemaMessage(t, stream))
		for _, r := range names[stream] {
			msgs = append(msgs, map[string]any{"type": "RECORD", "stream": stream, "record": r})
		}
	}
	from := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	origin := []map[string]any{
		{"campaign_id": 101}, {"campaign_id": nil, "broadcast_id": 9, "action_id": 3},
		{"campaign_id": nil, "newsletter_id": 5, "action_id": nil, "content_id": 2}, {"campaign_id": 999},
	}
	for i, raw := range appapitest.Deliveries(4, from, from.Add(3*time.Hour)) {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for k, v := range origin[i] {
			d[k] = v
		}
		created := int64(d["created"].(float64))
		metrics := d["metrics"].(map[string]any)
		if i%2 == 0 {
			metrics["opened"] = created + 60
			metrics["clicked"] = created + 600
		}
		msgs = append(msgs, map[string]any{"type": "RECORD", "stream": schemas.Deliveries, "record": d})
		name := []string{"Welcome series", "Flash sale", "November news", ""}[i]
		opened, clicked := "", ""
		if i%2 == 0 {
			opened, clicked = strconv.FormatInt(created+60, 10), strconv.FormatInt(created+600, 10)
		}
		want = append(want, fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s\texample.com",
			d["id"], d["type"], name, created+1, opened, clicked, d["customer_identifiers"].(map[string]any)["cio_id"]))
	}
	return msgs, want
}

func eventsOfCampaign(events []demoEvent, campaign int64) int {
	n := 0
	for _, e := range events {
		if e.campaign == campaign {
			n++
		}
	}
	return n
}

// deliveriesQuery reads cio_deliveries with times as Unix seconds; %s is
// the warehouse's expression for the Unix seconds of a column.
const deliveriesQuery = `select delivery_id, channel, coalesce(message_name, ''), %[1]s,
	coalesce(cast(%[2]s as text), ''), coalesce(cast(%[3]s as text), ''), cio_id, recipient_domain
	from %[4]scio_deliveries order by delivery_id`

// checkDeliveries loads appAPIDemo into target-postgres, applies the views
// again, and reads cio_deliveries and cio_events_named.
func checkDeliveries(t *testing.T, dsn string, cfg map[string]any, eventsOfCampaign101 int) {
	msgs, want := appAPIDemo(t)
	loadSinger(t, "target-postgres", cfg, msgs)
	if out := makeViews(t, dsn); strings.Contains(out, "notice") {
		t.Fatalf("make views with the App API tables said:\n%s", out)
	}
	epoch := func(col string) string { return "extract(epoch from " + col + ")::bigint" }
	checkRows(t, psql(t, dsn, fmt.Sprintf(deliveriesQuery, epoch("sent_at"), epoch("opened_at"), epoch("clicked_at"), "customerio.")), want)
	if got := psql(t, dsn, "select count(*) from customerio.cio_events_named where campaign_name = 'Welcome series'"); got[0] != strconv.Itoa(eventsOfCampaign101) {
		t.Errorf("cio_events_named: %s events of Welcome series, want %d", got[0], eventsOfCampaign101)
	}
}
