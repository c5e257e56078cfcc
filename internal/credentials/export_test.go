package credentials

// LevenshteinWithin exposes the banded distance check to the tests of
// package credentials_test.
var LevenshteinWithin = levenshteinWithin
