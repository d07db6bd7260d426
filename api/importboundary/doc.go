// Package importboundary holds only a test: the operator and the services
// share their contracts through api/ and never import each other, so that
// the operator binary does not link a service (with its database, PDF and
// template code) and a service's internals can change without the operator.
package importboundary
