package store

import "math"

// ApplyUsage folds u into rec as UsageStore.RecordUsage defines it:
// LastUsedAt = max(stored, u.LastUsedAt), UseCount += Count, saturating.
func ApplyUsage(rec *KeyRecord, u KeyUsage) {
	if u.LastUsedAt.After(rec.LastUsedAt) {
		rec.LastUsedAt = u.LastUsedAt
	}
	rec.UseCount = AddSaturating(rec.UseCount, u.Count)
}

// AddSaturating keeps a counter at its maximum instead of wrapping to a
// small number.
func AddSaturating(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
