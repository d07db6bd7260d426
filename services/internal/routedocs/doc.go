// Package routedocs checks the four town services' OpenAPI documents
// (api/openapi) against their code: every route a service registers on its
// httpapi.Server is documented, with the same method and path template,
// and every documented operation is a registered route. The documents are
// written by hand; this test keeps them from drifting from the routes.
//
// The package has no code of its own besides this comment: it exists for
// its test.
package routedocs
