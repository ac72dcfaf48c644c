import XCTest
@testable import CamkitCore

/// The benchmark with a fake runtime and a fake clock (the Kotlin core's BenchmarkTest, on
/// Core ML backends); every result JSON goes to the folder CAMKIT_CONTRACT_OUT names, when set
/// (the host validates them against its schema).
final class BenchmarkTests: XCTestCase {
    /// A clock that advances 50 us per reading, and by what the fake runtime "spends".
    final class FakePlatform: Platform {
        var now: UInt64 = 1_000_000_000
        var thermal = "nominal"
        func nanoTime() -> UInt64 {
            defer { now += 50_000 }
            return now
        }
        func thermalStatus() -> String? { thermal }
        func device() -> DeviceInfo { DeviceInfo(model: "iPhone16,1", soc: nil, os: "iOS 17.4.1", abi: "arm64") }
        let appName = "camkit-ios"
        let appVersion: String? = "0.1.0"
        func memoryMb() -> Double? { 100 + Double(now % 7) }
    }

    struct FakeCrash: LocalizedError {
        let errorDescription: String? = "the Neural Engine lost its context"
    }

    /// Replays the sample's reference, perturbed by `noise` on every other value.
    final class FakeRunner: ModelRunner {
        private let platform: FakePlatform
        private let manifest: Manifest
        private let noise: Float
        private let crashAt: Int
        private let sample: [String: Tensor]
        private var calls = 0
        let delegation: Delegation
        let ops: [OpRow]
        let runtimeVersion: String? = "iOS 17.4.1"
        var options: [String: String] { ["compute_plan": ComputePlan.plannedNote] }

        init(_ platform: FakePlatform, _ manifest: Manifest, noise: Float, plan: [PlannedOp], backend: Backend, crashAt: Int) throws {
            self.platform = platform
            self.manifest = manifest
            self.noise = noise
            self.crashAt = crashAt
            self.sample = try Npz.read(XCTUnwrap(manifest.sample()))
            delegation = ComputePlan.delegation(plan, backend)
            ops = ComputePlan.rows(plan, backend)
        }

        func run(_ inputs: [String: Tensor]) async throws -> [String: Tensor] {
            for io in manifest.inputs { XCTAssertEqual(inputs[io.name]?.dtype, io.dtype) }
            if calls == crashAt { throw FakeCrash() }
            platform.now += 10_000_000 + UInt64(calls % 5) * 1_000_000  // 10..14 ms
            calls += 1
            var out: [String: Tensor] = [:]
            for io in manifest.outputs {
                let ref = try Fixtures.tensor(sample, "out/\(io.name)")
                let values = ref.floats!.enumerated().map { $0.element + ($0.offset % 2 == 0 ? noise : 0) }
                out[io.name] = try Packing.toDtype(Tensor(shape: ref.shape, floats: values), io)
            }
            return out
        }
    }

    struct FakeFactory: RunnerFactory {
        let platform: FakePlatform
        var noise: Float = 0
        var plan: [PlannedOp] = BenchmarkTests.onTheNeuralEngine
        var crashAt = -1

        func load(_ artifact: URL, manifest: Manifest, backend: Backend, strict: Bool) async throws -> ModelRunner {
            XCTAssertTrue(FileManager.default.fileExists(atPath: artifact.path))
            if strict, let refusal = ComputePlan.strictRefusal(plan, backend), backend == .coremlAne {
                throw CamkitError(refusal)
            }
            platform.now += 120_000_000
            return try FakeRunner(platform, manifest, noise: noise, plan: plan, backend: backend, crashAt: crashAt)
        }
    }

    static let onTheNeuralEngine = [
        PlannedOp(operatorName: "const", name: "w", preferred: nil, supported: nil, cost: nil),
        PlannedOp(operatorName: "conv", name: "c1", preferred: "NeuralEngine", supported: ["CPU", "GPU", "NeuralEngine"], cost: 0.6),
        PlannedOp(operatorName: "relu", name: "r1", preferred: "NeuralEngine", supported: ["CPU", "GPU", "NeuralEngine"], cost: 0.1),
        PlannedOp(operatorName: "conv", name: "c2", preferred: "NeuralEngine", supported: ["CPU", "GPU", "NeuralEngine"], cost: 0.3),
    ]

    static let onTheCpu = onTheNeuralEngine.map {
        PlannedOp(operatorName: $0.operatorName, name: $0.name, preferred: $0.preferred.map { _ in "CPU" },
                  supported: $0.supported.map { _ in ["CPU"] }, cost: $0.cost)
    }

    static let mixed = [
        PlannedOp(operatorName: "conv", name: "c1", preferred: "GPU", supported: ["CPU", "GPU"], cost: 0.6),
        PlannedOp(operatorName: "resize_bilinear", name: "up", preferred: "CPU", supported: ["CPU"], cost: 0.1),
        PlannedOp(operatorName: "gather", name: "g", preferred: "CPU", supported: ["CPU"], cost: 0.05),
        PlannedOp(operatorName: "conv", name: "c2", preferred: "GPU", supported: ["CPU", "GPU"], cost: 0.25),
    ]

    static let keys = ["schema", "kind", "runtime", "latency", "raw_output_sha256", "model", "device", "host", "argv",
                       "delegation", "memory", "ops", "error", "static", "app"]
    static let appKeys = ["name", "version", "backend", "strict", "load_cold_ms", "load_warm_ms", "preprocess_ms",
                          "postprocess_ms", "input_size", "thermal_before", "thermal_after", "fallback_ops", "parity"]

    /// A Core ML manifest made from the fixture `name` (an ONNX or LiteRT stand-in): the same
    /// I/O and sample, `format` "coreml", the artifact a stand-in `.mlpackage` folder with its
    /// folder sha256, in a temporary folder.
    private func coremlManifest(_ name: String) throws -> Manifest {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-bench-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Fixtures.data("manifests/\(name)")) as? [String: Any])
        let stem = (json["artifact"] as! [String: Any])["file"] as! String
        let package = dir.appendingPathComponent("\(stem).mlpackage")
        try FileManager.default.createDirectory(at: package.appendingPathComponent("Data/com.apple.CoreML"),
                                                withIntermediateDirectories: true)
        try Data("stand-in model".utf8).write(to: package.appendingPathComponent("Data/com.apple.CoreML/model.mlmodel"))
        try Data("{}".utf8).write(to: package.appendingPathComponent("Manifest.json"))
        let sample = (json["sample"] as! [String: Any])["file"] as! String
        try FileManager.default.copyItem(at: Fixtures.file("manifests/\(sample)"), to: dir.appendingPathComponent(sample))
        let sha256 = try Sha256.of(package)
        json["format"] = "coreml"
        json["artifact"] = ["file": package.lastPathComponent, "sha256": sha256]
        let file = dir.appendingPathComponent("\(package.lastPathComponent).manifest.json")
        try JSONSerialization.data(withJSONObject: json).write(to: file)
        return try Manifest.read(file)
    }

    /// `report` as JSON, written to CAMKIT_CONTRACT_OUT when set, with its keys checked.
    @discardableResult
    private func write(_ name: String, _ report: ProfileReport) throws -> [String: Any] {
        let text = ProfileJson.write(report)
        if let out = ProcessInfo.processInfo.environment["CAMKIT_CONTRACT_OUT"], !out.isEmpty {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: dir.appendingPathComponent("\(name).json"))
        }
        let tree = ProfileJson.tree(report)
        guard case let .object(fields) = tree, case let .object(app)? = fields.first(where: { $0.0 == "app" })?.1 else {
            throw CamkitError("the report is not an object with an app block")
        }
        XCTAssertEqual(fields.map { $0.0 }, BenchmarkTests.keys, name)
        XCTAssertEqual(app.map { $0.0 }, BenchmarkTests.appKeys, name)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testCpuExactParity() async throws {
        let platform = FakePlatform()
        let manifest = try coremlManifest("toy-tiny-fp32.onnx.manifest.json")
        let argv = ["-camkitManifest", manifest.file.lastPathComponent, "-camkitBackend", "coreml-cpu"]
        let report = await Benchmark(factory: FakeFactory(platform: platform, plan: BenchmarkTests.onTheCpu), platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlCpu, runs: 7, warmup: 2), argv: argv)
        let json = try write("coreml-cpu-toy-tiny-fp32", report)
        XCTAssertNil(report.error)
        XCTAssertEqual(report.runtime.name, "coreml")
        XCTAssertEqual(report.runtime.tool, "camkit-ios")
        XCTAssertNil(report.runtime.toolGeneration)
        XCTAssertNil(report.runtime.delegate)
        XCTAssertEqual(report.runtime.accelerator, "cpu")
        XCTAssertEqual(report.runtime.options.map { $0.0 }, ["backend", "strict", "compute_units", "compute_plan"])
        XCTAssertEqual(report.runtime.option("compute_units"), "cpuOnly")
        XCTAssertEqual(report.latency.n, 7)
        XCTAssertTrue(report.latency.minMs! >= 10 && report.latency.maxMs! <= 14.2, "\(report.latency)")
        XCTAssertTrue(report.app.loadColdMs! >= 120 && report.app.loadWarmMs! >= 120)
        XCTAssertEqual(report.app.loadColdMs, report.latency.initMs)
        XCTAssertTrue(report.app.preprocessMs! > 0 && report.app.postprocessMs! > 0)
        XCTAssertEqual(report.app.inputSize, [16, 24])
        let parity = try XCTUnwrap((json["app"] as? [String: Any])?["parity"] as? [[String: Any]])
        XCTAssertEqual(parity.first?["psnr_db"] as? String, "inf")
        XCTAssertEqual(json["argv"] as? [String], argv)
        XCTAssertEqual((json["model"] as? [String: Any])?["sha256"] as? String, manifest.artifactSha256)
        XCTAssertEqual((json["model"] as? [String: Any])?["format"] as? String, "coreml")
        XCTAssertEqual(report.app.thermalBefore, "nominal")
        XCTAssertNotNil(report.memory.peakMb)
        XCTAssertEqual(report.ops.count, 4)
        XCTAssertEqual(report.delegation?.fullyDelegated, true)
        XCTAssertNil(report.delegation?.delegate)  // the CPU is no delegate
    }

    func testNeuralEngineQuantizedParity() async throws {
        let platform = FakePlatform()
        let manifest = try coremlManifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json")
        let report = await Benchmark(factory: FakeFactory(platform: platform, noise: 0.002), platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlAne, runs: 20, warmup: 3), argv: [])
        let json = try write("coreml-ane-toy-tiny-w8a8-nhwc-uint8", report)
        XCTAssertNil(report.error)
        XCTAssertEqual(report.runtime.accelerator, "npu")
        XCTAssertEqual(report.delegation, Delegation(delegate: "NeuralEngine", nodesDelegated: 3, nodesTotal: 3, partitions: nil,
                                                     fullyDelegated: true, fallbackOps: []))
        let parity = try XCTUnwrap(report.app.parity?.first)
        XCTAssertEqual(parity.output, "output")
        XCTAssertTrue(parity.psnrDb >= 40 && parity.psnrDb <= 80, "\(parity)")
        XCTAssertLessThanOrEqual(parity.maxAbs, 0.5 / 255 + 0.002 + 1e-6, "\(parity)")
        XCTAssertEqual(report.latency.n, 20)
        XCTAssertEqual(report.latency.warmupMeanMs!, 12.05, accuracy: 1e-9)  // calls 1..3: 11, 12, 13 ms + one clock tick
        let ops = try XCTUnwrap(json["ops"] as? [[String: Any]])
        XCTAssertEqual(ops.count, 4)
        XCTAssertEqual(ops[1]["table"] as? String, "compute_plan")
        XCTAssertEqual(ops[1]["placement"] as? String, "NeuralEngine")
        XCTAssertEqual(ops[1].count, 18)
        XCTAssertEqual(ops[0]["placement"] as? NSNull, NSNull())
    }

    func testStrictNeuralEngineRefusalIsAResult() async throws {
        let platform = FakePlatform()
        platform.thermal = "fair"
        let manifest = try coremlManifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json")
        let report = await Benchmark(factory: FakeFactory(platform: platform, plan: BenchmarkTests.mixed), platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlAne), argv: [])
        let json = try write("coreml-ane-strict-refused", report)
        let error = try XCTUnwrap(json["error"] as? [String: Any])
        XCTAssertEqual(error["kind"] as? String, "tool_error")
        XCTAssertTrue((error["message"] as? String)?.hasPrefix("cold load: strict: Core ML plans 4 of 4 ops") == true, "\(error)")
        XCTAssertTrue(try XCTUnwrap(json["latency"] as? [String: Any]).values.allSatisfy { $0 is NSNull })
        XCTAssertEqual(report.app.thermalAfter, "fair")
        XCTAssertNil(report.app.parity)
    }

    func testStrictFallbackIsRefusedWithTheOps() async throws {
        let platform = FakePlatform()
        let manifest = try coremlManifest("toy-tiny-w8a8-nhwc-uint8.tflite.manifest.json")
        let factory = FakeFactory(platform: platform, plan: BenchmarkTests.mixed)
        let report = await Benchmark(factory: factory, platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlGpu), argv: [])
        try write("coreml-gpu-strict-fallback", report)
        XCTAssertEqual(report.error?.kind, "tool_error")
        XCTAssertTrue(report.error?.message.contains("resize_bilinear, gather") == true, report.error?.message ?? "")
        XCTAssertEqual(report.app.fallbackOps, ["resize_bilinear", "gather"])
        XCTAssertNotNil(report.app.loadColdMs)
        // not strict: the mixed graph is measured and its planned fallback reported
        let loose = await Benchmark(factory: factory, platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlGpu, strict: false), argv: [])
        try write("coreml-gpu-fallback-measured", loose)
        XCTAssertNil(loose.error)
        XCTAssertEqual(loose.delegation?.fullyDelegated, false)
        XCTAssertEqual(loose.delegation?.nodesDelegated, 2)
        XCTAssertEqual(loose.ops.map { $0.unsupportedOn ?? [] }, [[], ["GPU"], ["GPU"], []])
    }

    func testCrashMidRunKeepsWhatWasMeasured() async throws {
        let platform = FakePlatform()
        let manifest = try coremlManifest("toy-tiny-fp32.onnx.manifest.json")
        let report = await Benchmark(factory: FakeFactory(platform: platform, crashAt: 4), platform: platform)
            .run(manifest, BenchmarkConfig(backend: .coremlAll, runs: 5, warmup: 3), argv: [])
        try write("coreml-all-crashed", report)
        XCTAssertEqual(report.error?.kind, "crashed")
        let message = report.error?.message ?? ""
        XCTAssertTrue(message.hasPrefix("timed runs: ") && message.contains("FakeCrash")
                      && message.hasSuffix(": the Neural Engine lost its context"), message)
        XCTAssertNotNil(report.latency.firstMs)
        XCTAssertNotNil(report.app.parity)
        XCTAssertNil(report.runtime.accelerator)
        XCTAssertNil(report.delegation?.fullyDelegated)  // "all": Core ML chooses, nothing to be fully delegated to
    }

    func testRefusalsBeforeAnythingRuns() async throws {
        let platform = FakePlatform()
        let bench = Benchmark(factory: FakeFactory(platform: platform), platform: platform)
        let unknown = await bench.run(manifestFile: try Fixtures.file("manifests/toy-tiny-fp32.onnx.manifest.json"),
                                      backendId: "tpu", runs: 5, warmup: 1, strict: true, argv: ["-camkitBackend", "tpu"])
        try write("unknown-backend", unknown)
        XCTAssertTrue(unknown.error?.message.contains("unknown backend 'tpu'") == true, unknown.error?.message ?? "")
        XCTAssertNil(unknown.runtime.name)
        XCTAssertEqual(unknown.app.backend, "tpu")
        let broken = await bench.run(manifestFile: try Fixtures.file("manifests/broken-schema.manifest.json"),
                                     backendId: "coreml-ane", runs: 5, warmup: 1, strict: true, argv: [])
        try write("broken-manifest", broken)
        XCTAssertTrue(broken.error?.message.contains("schema 99") == true, broken.error?.message ?? "")
        let onnx = try Manifest.read(Fixtures.file("manifests/toy-tiny-fp32.onnx.manifest.json"))
        let mismatch = await bench.run(onnx, BenchmarkConfig(backend: .coremlAne), argv: [])
        XCTAssertTrue(mismatch.error?.message.contains("none: the app runs no onnx") == true, mismatch.error?.message ?? "")
    }
}
