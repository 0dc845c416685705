// Package chain decides where a connection goes and dials it: proxy URLs,
// routing, and the negotiation of a chain of hops over a given socket.
package chain
