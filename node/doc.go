// Package node assembles one gaib process: what `gaib serve` runs. It starts (or joins) the
// NATS server, bootstraps identities, opens the JetStream state, brings up the Postgres and
// Redis planes (external, or managed local servers), the metrics endpoint and the micro
// services, prints one ready line and shuts everything down in order when its context ends.
//
// The cli package only parses flags into a Config and calls Run.
package node
