// Package gateway is the district gateway: the one way in to a district's
// towns, for the public and for staff.
//
//   - Public routing: a village's portal (/v/<code>), report page
//     (/r/<code>), a reporter's follow-up (/r/track/<code>) and Open311
//     (/open311/v2, jurisdiction_id naming the town) go to the right town's
//     disclosure or complaint pods (public.go).
//   - Sign-in: Ory Kratos' browser self-service flows rendered in Chinese at
//     /auth/*, with Kratos' public API proxied on the same origin so that its
//     cookies and CSRF tokens work (auth.go).
//   - The staff console at /console: server-rendered pages that call the
//     town services' own APIs with the user's own session (console.go).
//
// The gateway holds no business data and decides nothing about who may see
// what: every console action is a call to a town service's API as the
// signed-in user, and that service checks the user's role and scope.
package gateway
