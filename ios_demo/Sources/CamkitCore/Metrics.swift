import Foundation

/// Parity metrics as toolkit/checks/metrics.py computes them (float64 over float32 values).
public enum Metrics {
    /// PSNR in dB: 10 log10(peak^2 / mse), mse the float64 mean of (a - b)^2; +infinity when equal.
    public static func psnr(_ a: [Float], _ b: [Float], peak: Double = 1.0) throws -> Double {
        try sameSize(a, b)
        var sum = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        let mse = sum / Double(a.count)
        return mse == 0 ? .infinity : 10 * log10(peak * peak / mse)
    }

    /// The largest |a - b|, in float64.
    public static func maxAbs(_ a: [Float], _ b: [Float]) throws -> Double {
        try sameSize(a, b)
        var worst = 0.0
        for i in a.indices { worst = max(worst, abs(Double(a[i]) - Double(b[i]))) }
        return worst
    }

    private static func sameSize(_ a: [Float], _ b: [Float]) throws {
        try ensure(a.count == b.count && !a.isEmpty, "cannot compare \(a.count) values with \(b.count)")
    }
}
