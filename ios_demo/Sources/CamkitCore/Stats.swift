import Foundation

/// The profile result's `latency` block, times in ms; nil: not measured. ``stdMs`` is the
/// population standard deviation (numpy's default, ddof 0), nil for a single run.
public struct LatencyStats: Equatable {
    public var initMs: Double? = nil
    public var firstMs: Double? = nil
    public var warmupMeanMs: Double? = nil
    public var meanMs: Double? = nil
    public var medianMs: Double? = nil
    public var p5Ms: Double? = nil
    public var p90Ms: Double? = nil
    public var p95Ms: Double? = nil
    public var p99Ms: Double? = nil
    public var minMs: Double? = nil
    public var maxMs: Double? = nil
    public var stdMs: Double? = nil
    public var n: Int? = nil

    public init() {}
}

/// Latency statistics with the definitions of toolkit/profilers (numpy's, bit for bit).
public enum Stats {
    /// numpy's default (linear) percentile of `values` (sorted or not) at quantile `q` in
    /// [0, 1] (0.5: the median): sorted x, position (n - 1) q, interpolated between its
    /// neighbours as numpy does (from the upper one when the fraction is >= 0.5).
    public static func percentile(_ values: [Double], _ q: Double) throws -> Double {
        try ensure(!values.isEmpty, "no values to take a percentile of")
        try ensure(q >= 0 && q <= 1, "quantile \(q) is outside [0, 1] (the median is 0.5)")
        let sorted = values.sorted()
        let position = Double(sorted.count - 1) * q
        let lo = Int(position.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let t = position - Double(lo)
        let a = sorted[lo]
        let b = sorted[hi]
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }

    /// The mean as numpy computes it (pairwise summation, then / n).
    public static func mean(_ values: [Double]) throws -> Double {
        try ensure(!values.isEmpty, "no values to average")
        return pairwiseSum(values[...]) / Double(values.count)
    }

    /// The population standard deviation (ddof 0) as numpy computes it.
    public static func std(_ values: [Double]) throws -> Double {
        let m = try mean(values)
        let squares = values.map { ($0 - m) * ($0 - m) }
        return (pairwiseSum(squares[...]) / Double(values.count)).squareRoot()
    }

    /// `samplesMs` (the timed runs) summarised; the init, first and warm-up fields stay nil.
    public static func latency(_ samplesMs: [Double]) throws -> LatencyStats {
        try ensure(!samplesMs.isEmpty, "no timed runs to summarise; run at least one")
        var s = LatencyStats()
        s.meanMs = try mean(samplesMs)
        s.medianMs = try percentile(samplesMs, 0.5)
        s.p5Ms = try percentile(samplesMs, 0.05)
        s.p90Ms = try percentile(samplesMs, 0.90)
        s.p95Ms = try percentile(samplesMs, 0.95)
        s.p99Ms = try percentile(samplesMs, 0.99)
        s.minMs = samplesMs.min()
        s.maxMs = samplesMs.max()
        s.stdMs = try samplesMs.count > 1 ? std(samplesMs) : nil
        s.n = samplesMs.count
        return s
    }

    /// numpy's pairwise summation (umath loops `pairwise_sum`): blocks of 8 partial sums up to
    /// 128 values, halves (rounded down to a multiple of 8) above.
    private static func pairwiseSum(_ x: ArraySlice<Double>) -> Double {
        let n = x.count
        let start = x.startIndex
        if n < 8 {
            var res = 0.0
            for v in x { res += v }
            return res
        }
        if n <= 128 {
            var r = Array(x[start..<start + 8])
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += x[start + i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n {
                res += x[start + i]
                i += 1
            }
            return res
        }
        var half = n / 2
        half -= half % 8
        return pairwiseSum(x[start..<start + half]) + pairwiseSum(x[(start + half)...])
    }
}
