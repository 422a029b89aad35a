// Package bridgee2e holds the bridge's end-to-end test: a signed webhook through the real
// HTTP handler, PostgreSQL store, relay and dispatch.Dispatcher into an in-process Temporal
// server. It is its own package so the bridge's other tests neither link the Temporal server
// nor depend on the workflows package compiling.
package bridgee2e
