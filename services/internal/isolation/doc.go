// Package isolation holds the isolation matrix of the four town services
// (matrix_test.go): every route each service registers, crossed with every
// role of two towns sharing one Kratos, against one instance of each service
// for town X on the real PostgreSQL and Kratos.
//
// The matrix is generated from the services' own route tables
// (httpapi.Server.Routes): a route without a row in the matrix, or a row
// whose route is gone, fails the test, so that no staff route reaches the
// district gateway without someone stating who may use it. For each
// authenticated route:
//
//   - every principal of town Y (each village role, town role and a
//     villager) is refused, 403 or 404, never anything else, and changes
//     nothing in any service's database;
//   - town X's principals and the district's (who hold no town: one Kratos
//     per district) get what the row says: the roles it lists get through
//     (neither 401, 403, 404 nor a server error), the others are refused
//     like town Y;
//   - a write naming a village of town Y, by a role of town X the row lets
//     in, is refused too (403, 404 or 422);
//   - a request without credentials is 401.
//   - the narrower scopes (services/internal/identity): town X's services
//     are told that town X is in the 片组 pian-x (WUXIAO_TOWN_GROUP); a
//     district-discipline official of pian-x gets what the row gives
//     district-discipline, one of another group is refused everywhere; a
//     liaison cadre (联村干部) of town X assigned to v1 gets through where
//     the row lists village-liaison-cadre, one assigned to v2 only is
//     refused on v1's records (and gets 200 without v1 from the town-wide
//     lists that narrow to its villages), one of town Y is refused like
//     town Y.
//
// Public routes are listed and marked public; the test checks that the
// server registered them as public (without the authenticator), and
// nothing more. The village roles of town X are of one village (v1), and
// the requests name it: isolation between villages of one town is left to
// the services' own tests.
//
// consumers_test.go extends the matrix to the event consumers: every
// stream each service consumes refuses an event naming town Y, and the
// Kafka consumer dead-letters one read from town X's topic.
//
// The package has no code of its own besides this comment: it exists for
// its test.
package isolation
