// Package workflow is a town's workflow service: it runs every power on the
// town's power list as a supervised process (一事一流程一图表), and nothing
// that is not on it (清单之外无权力).
//
// It owns the process instances of the town's villages and their steps,
// evidence, comments and withdrawals; the steps' time limits (working-day
// calendar, reminder and escalation timers); the violation warnings the
// catalog's controls raise (违规预警); the hash-chained audit trail of every
// action, anchored through events; and the items' and instances'
// flowcharts. The power list itself is the operator's (WUXIAO_CATALOG_FILE).
//
// engine.go, calendar.go and catalog.go are the pure domain; service.go and
// store.go apply it in one transaction per action with its outbox events;
// handlers*.go are the HTTP API (api/openapi/workflow.yaml).
package workflow
