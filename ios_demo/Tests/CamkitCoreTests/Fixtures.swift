import Foundation
import XCTest
@testable import CamkitCore

/// The golden fixtures `camkit app fixtures OUT` writes (toolkit/app_fixtures.py), found by the
/// environment variable CAMKIT_FIXTURES. Missing fixtures FAIL the tests: a core that was never
/// compared with camkit is not a passing core. (The Kotlin core's tests read the same folder.)
enum Fixtures {
    /// The fixtures version these tests read (toolkit/app_fixtures.py FIXTURES_VERSION).
    static let version = 3

    /// The fixtures folder; throws (failing the test) when it is not there.
    static func root() throws -> URL {
        guard let named = ProcessInfo.processInfo.environment["CAMKIT_FIXTURES"], !named.isEmpty else {
            throw CamkitError("no golden fixtures: run 'camkit app fixtures DIR' and set CAMKIT_FIXTURES=DIR")
        }
        let dir = URL(fileURLWithPath: named)
        let index = dir.appendingPathComponent("index.json")
        guard FileManager.default.fileExists(atPath: index.path) else {
            throw CamkitError("no golden fixtures at \(dir.path) (no index.json): run 'camkit app fixtures \(dir.path)'")
        }
        let found = try json(at: index)["version"] as? Int
        guard found == version else {
            throw CamkitError("fixtures at \(dir.path) are version \(found.map { String($0) } ?? "?"), these tests read \(version); regenerate them with this camkit")
        }
        return dir
    }

    /// The fixture `rel` (which must exist).
    static func file(_ rel: String) throws -> URL {
        let url = try root().appendingPathComponent(rel)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CamkitError("fixture \(url.path) is missing") }
        return url
    }

    static func exists(_ rel: String) throws -> Bool {
        FileManager.default.fileExists(atPath: try root().appendingPathComponent(rel).path)
    }

    static func data(_ rel: String) throws -> Data { try Data(contentsOf: file(rel)) }

    private static func json(at url: URL) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw CamkitError("\(url.path) is not a JSON object")
        }
        return object
    }

    static func json(_ rel: String) throws -> [String: Any] { try json(at: file(rel)) }

    private static var npzCache: [String: [String: Tensor]] = [:]

    static func npz(_ rel: String) throws -> [String: Tensor] {
        if let cached = npzCache[rel] { return cached }
        let arrays = try Npz.read(file(rel))
        npzCache[rel] = arrays
        return arrays
    }

    static func npy(_ rel: String) throws -> Tensor { try Npz.readNpy([UInt8](data(rel)), where: rel) }

    /// A PNG decoded by the tests' own decoder (Png.swift).
    static func png(_ rel: String) throws -> Image { try Png.decode([UInt8](data(rel))) }

    /// The tile cases (index.json `cases`).
    static func cases() throws -> [String] { try json("index.json")["cases"] as? [String] ?? [] }

    static func tensor(_ arrays: [String: Tensor], _ key: String) throws -> Tensor {
        guard let t = arrays[key] else { throw CamkitError("fixture array '\(key)' is missing") }
        return t
    }

    static func assertTensorEquals(_ expected: Tensor, _ actual: Tensor?, _ what: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        guard let actual else { return XCTFail("\(what): no tensor", file: file, line: line) }
        XCTAssertEqual(expected.shape, actual.shape, "\(what): shape", file: file, line: line)
        XCTAssertEqual(expected.dtype, actual.dtype, "\(what): dtype", file: file, line: line)
        XCTAssertTrue(expected.floats == actual.floats && expected.bytes == actual.bytes, "\(what): values", file: file, line: line)
    }

    static func maxAbs(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "sizes \(a.count) and \(b.count)")
        var worst = 0.0
        for i in a.indices { worst = max(worst, abs(Double(a[i]) - Double(b[i]))) }
        return worst
    }

    /// An image tensor description for tests.
    static func io(_ name: String, _ layout: String, _ h: Int, _ w: Int, c: Int = 3, dtype: String = "float32",
                   role: String = "image", of: String? = nil, range: [Double]? = [0.0, 1.0]) -> TensorIo {
        TensorIo(name: name, shape: layout == "nchw" ? [1, c, h, w] : [1, h, w, c], dtype: dtype,
                 quantization: dtype == "uint8" ? Quantization(scale: 1.0 / 255, zeroPoint: 0) : nil,
                 layout: layout, valueRange: range, colorSpace: "srgb", role: role, of: of)
    }

    /// NHWC float32 `t` (1, h, w, c) in `layout`.
    static func toLayout(_ t: Tensor, _ layout: String) throws -> Tensor {
        if layout == "nhwc" { return t }
        let (h, w, c) = (t.shape[1], t.shape[2], t.shape[3])
        let src = t.floats!
        var out = [Float](repeating: 0, count: src.count)
        for i in 0..<h * w {
            for ch in 0..<c { out[ch * h * w + i] = src[i * c + ch] }
        }
        return try Tensor(shape: [1, c, h, w], floats: out)
    }

    /// A TensorIo decoded from a JSON object of a fixture (`io` of packing/cases.json).
    static func tensorIo(_ object: Any, where name: String) throws -> TensorIo {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try JsonDecoding.decode(TensorIo.self, from: data, where: name)
    }
}

/// A runner that checks each call's feeds and replays recorded outputs.
final class ReplayRunner: ModelRunner {
    private let check: (Int, [String: Tensor]) throws -> Void
    private let reply: (Int) throws -> [String: Tensor]
    private(set) var calls = 0
    let delegation = Delegation.unknown
    let runtimeVersion: String? = nil

    init(check: @escaping (Int, [String: Tensor]) throws -> Void = { _, _ in },
         reply: @escaping (Int) throws -> [String: Tensor]) {
        self.check = check
        self.reply = reply
    }

    func run(_ inputs: [String: Tensor]) async throws -> [String: Tensor] {
        try check(calls, inputs)
        defer { calls += 1 }
        return try reply(calls)
    }
}
