package tap

import "github.com/cio-singer/tap-customerio-webhook/internal/about"

// Name is the program's name, as Singer and Meltano know it.
const Name = "tap-customerio-webhook"

// Info describes the tap for --about.
func Info() about.Info {
	return about.Info{
		Name:         Name,
		Description:  "Singer tap that receives Customer.io reporting webhooks, keeps each one durably in a local spool before answering 200, and emits them on stream data (key event_id); with app_api_key, also the history read from the App API (deliveries, campaigns, broadcasts, newsletters, transactional_messages).",
		Capabilities: []string{"catalog", "discover", "state", "about"},
		Settings:     Settings(),
		EnvPrefix:    EnvPrefix,
	}
}
