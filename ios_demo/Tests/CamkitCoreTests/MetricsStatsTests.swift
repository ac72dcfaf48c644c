import XCTest
@testable import CamkitCore

/// PSNR, max abs and latency statistics against the values camkit computes (fixtures
/// `metrics.json`, `latency.json`; the Kotlin core's MetricsStatsTest).
final class MetricsStatsTests: XCTestCase {
    private func floats(_ value: Any?) -> [Float] { (value as! [Double]).map { Float($0) } }

    func testMetrics() throws {
        let pairs = try XCTUnwrap(Fixtures.json("metrics.json")["pairs"] as? [[String: Any]])
        XCTAssertEqual(pairs.count, 3)
        for p in pairs {
            let name = p["name"] as! String
            let a = floats(p["a"])
            let b: [Float]
            if p["b"] != nil {
                b = floats(p["b"])
            } else {
                let q = p["quantization"] as! [String: Any]
                let bytes = (p["b_uint8"] as! [Int]).map { UInt8($0) }
                b = try Tensor(shape: [bytes.count], bytes: bytes)
                    .toFloats(Quantization(scale: q["scale"] as! Double, zeroPoint: q["zero_point"] as! Int))
            }
            if let text = p["psnr_db"] as? String {
                XCTAssertEqual(text, "inf", name)
                XCTAssertEqual(try Metrics.psnr(a, b), .infinity, name)
            } else {
                XCTAssertEqual(try Metrics.psnr(a, b), p["psnr_db"] as! Double, accuracy: 1e-9, name)
            }
            XCTAssertEqual(try Metrics.maxAbs(a, b), p["max_abs"] as! Double, name)
        }
    }

    func testLatency() throws {
        let sets = try XCTUnwrap(Fixtures.json("latency.json")["sets"] as? [[String: Any]])
        XCTAssertEqual(sets.count, 4)
        for s in sets {
            let name = s["name"] as! String
            let samples = s["samples_ms"] as! [Double]
            let got = try Stats.latency(samples)
            func same(_ key: String, _ value: Double?) {
                if let want = s[key] as? Double {
                    XCTAssertEqual(value ?? .nan, want, accuracy: 1e-12 * abs(want), "\(name) \(key)")
                } else {
                    XCTAssertNil(value, "\(name) \(key)")
                }
            }
            same("mean_ms", got.meanMs)
            same("median_ms", got.medianMs)
            same("p5_ms", got.p5Ms)
            same("p90_ms", got.p90Ms)
            same("p95_ms", got.p95Ms)
            same("p99_ms", got.p99Ms)
            same("min_ms", got.minMs)
            same("max_ms", got.maxMs)
            same("std_ms", got.stdMs)
            XCTAssertEqual(got.n, s["n"] as? Int, name)
            for (p, want) in s["percentiles"] as! [String: Double] {
                XCTAssertEqual(try Stats.percentile(samples, Double(p)! / 100), want, accuracy: 1e-12 * want, "\(name) p\(p)")
            }
        }
    }

    func testPercentileEdges() throws {
        XCTAssertEqual(try Stats.percentile([4, 1, 3, 2], 0.5), 2.5)
        XCTAssertEqual(try Stats.percentile([4, 1, 3, 2], 0), 1)
        XCTAssertThrowsError(try Stats.percentile([1], 50))
        XCTAssertThrowsError(try Metrics.psnr([0, 0], [0, 0, 0]))
    }
}
