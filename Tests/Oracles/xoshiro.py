# xoshiro256** seeded by four SplitMix64 outputs: the generator of Sources/QATTensor/Random.swift,
# written independently for the Python oracles that must draw what QATLab draws (bootstrap
# resamples, few-shot examples).
MASK = (1 << 64) - 1


class Xoshiro256StarStar:
    """xoshiro256** seeded by four SplitMix64 outputs (Sources/QATTensor/Random.swift's scheme)."""

    def __init__(self, seed):
        x = seed & MASK
        state = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            state.append(z ^ (z >> 31))
        self.s = state

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result
