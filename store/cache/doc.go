// Package cache keeps the hot part of root-key records (store.KeyRecord.Hot)
// in memory in front of a store.Store, so that exchange and introspection
// do not read the database for a key record on every call. Each record is
// held as one encoded string, so that a cache of every key costs the
// garbage collector almost nothing to mark.
//
// The cache is coherent only because one process writes the store and
// every write goes through the cache: CreateKey and UpdateKey drop the
// records they touched once the inner store has answered. A second writer
// that bypasses the cache would leave stale records in it.
//
// It must never cache a negative answer (a flood of unknown ids would grow
// memory and hide a later CreateKey), never cache an error, never hand out
// a record that a caller can change in place, and never do anything but
// key-record caching: every other method, GetKey included, passes straight
// through.
package cache
