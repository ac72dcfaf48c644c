import XCTest
@testable import CamkitCore

/// Core ML's planned placement turned into the profile result's rows, counts, delegation and
/// strict refusals (the same rows as camkit's macOS profiler, toolkit/profilers/macos.py).
final class ComputePlanTests: XCTestCase {
    private let plan = [
        PlannedOp(operatorName: "const", name: "w", preferred: nil, supported: nil, cost: nil),
        PlannedOp(operatorName: "conv", name: "c1", preferred: "NeuralEngine", supported: ["CPU", "GPU", "NeuralEngine"], cost: 0.7),
        PlannedOp(operatorName: "resize_bilinear", name: "up", preferred: "CPU", supported: ["CPU", "GPU"], cost: 0.2),
        PlannedOp(operatorName: "conv", name: "c2", preferred: "GPU", supported: ["CPU", "GPU", "NeuralEngine"], cost: 0.1),
    ]

    func testRows() {
        let rows = ComputePlan.rows(plan, .coremlAne)
        XCTAssertEqual(rows.map(\.table), Array(repeating: "compute_plan", count: 4))
        XCTAssertEqual(rows.map(\.nodeType), ["const", "conv", "resize_bilinear", "conv"])
        XCTAssertEqual(rows.map(\.name), ["w", "c1", "up", "c2"])
        XCTAssertEqual(rows[0].unsupportedOn, nil)  // no usage: a constant
        XCTAssertEqual(rows[2].unsupportedOn, ["NeuralEngine"])  // of the unit's devices, CPU and NeuralEngine
        XCTAssertEqual(rows[3].unsupportedOn, [])
        XCTAssertEqual(rows[1].costFraction, 0.7)
    }

    func testCountsAndDelegation() {
        XCTAssertEqual(ComputePlan.counts(plan), ["NeuralEngine": 1, "CPU": 1, "GPU": 1])
        let ane = ComputePlan.delegation(plan, .coremlAne)
        XCTAssertEqual(ane, Delegation(delegate: "NeuralEngine", nodesDelegated: 1, nodesTotal: 3, partitions: nil,
                                       fullyDelegated: false, fallbackOps: ["resize_bilinear", "conv"]))
        let all = ComputePlan.delegation(plan, .coremlAll)
        XCTAssertNil(all.delegate)
        XCTAssertNil(all.fullyDelegated)
        XCTAssertEqual(all.nodesDelegated, 1)
        XCTAssertEqual(ComputePlan.delegation(plan, .coremlGpu).fallbackOps, ["conv", "resize_bilinear"])
    }

    func testStrictRefusal() throws {
        XCTAssertNil(ComputePlan.strictRefusal(plan, .coremlAll))
        let refusal = try XCTUnwrap(ComputePlan.strictRefusal(plan, .coremlAne))
        XCTAssertTrue(refusal.hasPrefix("strict: Core ML plans 2 of 3 ops of coreml-ane off the NeuralEngine"), refusal)
        XCTAssertTrue(refusal.contains("resize_bilinear up on CPU"), refusal)
        XCTAssertFalse(refusal.contains("\n"))
        let onNe = plan.filter { $0.preferred != "CPU" && $0.preferred != "GPU" }
        XCTAssertNil(ComputePlan.strictRefusal(onNe, .coremlAne))
    }

    func testJsonOfAnOpRow() {
        let row = ComputePlan.rows(plan, .coremlAne)[2]
        var report = ProfileReport(
            runtime: RuntimeInfo(name: "coreml", tool: "camkit-ios", toolGeneration: nil, version: nil, delegate: nil,
                                 accelerator: "npu", options: [("backend", "coreml-ane")]),
            latency: LatencyStats(), model: ModelRef(sha256: nil, format: "coreml", precision: "fp16", manifest: nil),
            device: nil, argv: nil, delegation: nil, memory: MemoryInfo(), ops: [row], error: nil,
            app: AppInfo(name: "camkit-ios", version: nil, backend: "coreml-ane", strict: true))
        report.app.parity = [Parity(output: "out", psnrDb: .infinity, maxAbs: 0)]
        let text = ProfileJson.write(report)
        XCTAssertTrue(text.contains("\"psnr_db\": \"inf\""), text)
        XCTAssertTrue(text.contains("\"unsupported_on\": [\n        \"NeuralEngine\"\n      ]"), text)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertEqual(JsonValue.quoted("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"")
        XCTAssertEqual(JsonValue.number(0.1), "0.1")
        XCTAssertEqual(JsonValue.number(4), "4.0")
    }
}
