import Foundation

/// A benchmark's settings: ``runs`` timed inferences after ``warmup`` untimed ones; ``strict``:
/// a backend that cannot take the whole graph fails instead of falling back; ``threads``: the
/// CPU threads the runner was given (recorded only; Core ML chooses its own).
public struct BenchmarkConfig {
    public let backend: Backend
    public let runs: Int
    public let warmup: Int
    public let strict: Bool
    public let threads: Int?

    public init(backend: Backend, runs: Int = 20, warmup: Int = 3, strict: Bool = true, threads: Int? = nil) {
        self.backend = backend
        self.runs = runs
        self.warmup = warmup
        self.strict = strict
        self.threads = threads
    }
}

/// What only the phone knows; tests pass fakes.
public protocol Platform {
    /// A monotonic clock in ns.
    func nanoTime() -> UInt64
    /// "nominal", "fair", "serious", "critical" (`ProcessInfo.ThermalState`), or nil.
    func thermalStatus() -> String?
    /// The phone: model, SoC, "iOS 17.4.1", ABI.
    func device() -> DeviceInfo
    /// "camkit-ios".
    var appName: String { get }
    /// The app's version.
    var appVersion: String? { get }
    /// The app's memory footprint, MB; nil when unknown.
    func memoryMb() -> Double?
}

extension Platform {
    public func memoryMb() -> Double? { nil }
}

/// The on-device benchmark: cold load (the first), close, warm load (the second), the first
/// inference on the sample input, ``BenchmarkConfig/warmup`` runs, ``BenchmarkConfig/runs``
/// timed runs, each with the app's pre-processing (pack) and post-processing (unpack) of the
/// sample's photo-sized input timed apart; on-device parity of each output vs the sample's
/// reference; thermal state before and after. Never throws: a failure gives a report with
/// `error` set (kind "tool_error" for a ``CamkitError``, "crashed" for any other error) and
/// what was measured so far.
public final class Benchmark {
    private let factory: RunnerFactory
    private let platform: Platform

    public init(factory: RunnerFactory, platform: Platform) {
        self.factory = factory
        self.platform = platform
    }

    /// `manifest` on `config`'s backend; `argv`: what started the run, as the app received it.
    public func run(_ manifest: Manifest, _ config: BenchmarkConfig, argv: [String]) async -> ProfileReport {
        let state = BenchmarkRun(platform, config.backend.id, config.backend, config.strict, config.threads, manifest)
        return await state.report(argv) { try await state.measure(self.factory, manifest, config) }
    }

    /// As ``run(_:_:argv:)``, from a manifest file and a backend id (as the headless launch
    /// gives them): an unreadable manifest or an unknown backend is a report with `error` too.
    public func run(manifestFile: URL, backendId: String, runs: Int, warmup: Int, strict: Bool, argv: [String],
                    threads: Int? = nil) async -> ProfileReport {
        let backend = try? Backend.of(backendId)
        let manifest = Result { try Manifest.read(manifestFile) }
        if let backend, case let .success(read) = manifest {
            return await run(read, BenchmarkConfig(backend: backend, runs: runs, warmup: warmup, strict: strict, threads: threads),
                             argv: argv)
        }
        let state = BenchmarkRun(platform, backendId, backend, strict, threads, try? manifest.get())
        return await state.report(argv) {
            state.stage = "start"
            _ = try Backend.of(backendId)
            _ = try manifest.get()
        }
    }
}

extension Benchmark {
    /// The report of a run refused before anything could start (`message`: why), as the
    /// headless launch writes it when it cannot even build its runner factory.
    public static func refused(_ message: String, platform: Platform, backendId: String, strict: Bool,
                               argv: [String]) async -> ProfileReport {
        let state = BenchmarkRun(platform, backendId, try? Backend.of(backendId), strict, nil, nil)
        return await state.report(argv) { throw CamkitError(message) }
    }
}

/// One benchmark's measurements as they come (all nil until measured).
final class BenchmarkRun {
    private let platform: Platform
    private let backendId: String
    private let backend: Backend?
    private let strict: Bool
    private let threads: Int?
    private let manifest: Manifest?

    var stage = "start"
    private var loadCold: Double?
    private var loadWarm: Double?
    private var first: Double?
    private var warm: [Double] = []
    private var times: [Double] = []
    private var pre: [Double] = []
    private var post: [Double] = []
    private var inputSize: [Int]?
    private var thermalBefore: String?
    private var thermalAfter: String?
    private var delegation: Delegation?
    private var runtimeVersion: String?
    private var ops: [OpRow] = []
    private var runnerOptions: [String: String] = [:]
    private var parity: [Parity]?
    private var memoryBefore: Double?
    private var memoryPeak: Double?

    init(_ platform: Platform, _ backendId: String, _ backend: Backend?, _ strict: Bool, _ threads: Int?,
         _ manifest: Manifest?) {
        self.platform = platform
        self.backendId = backendId
        self.backend = backend
        self.strict = strict
        self.threads = threads
        self.manifest = manifest
    }

    /// Runs `body`; whatever it throws becomes the report's error.
    func report(_ argv: [String], _ body: () async throws -> Void) async -> ProfileReport {
        var error: ProfileError?
        do {
            try await body()
        } catch let refusal as CamkitError {
            error = ProfileError(kind: "tool_error", message: "\(stage): \(firstLine(refusal.message))")
        } catch let crash {
            error = ProfileError(kind: "crashed", message: "\(stage): \(type(of: crash)): \(firstLine(crash.localizedDescription))")
        }
        if thermalAfter == nil && thermalBefore != nil { thermalAfter = platform.thermalStatus() }
        return build(argv, error)
    }

    func measure(_ factory: RunnerFactory, _ manifest: Manifest, _ config: BenchmarkConfig) async throws {
        stage = "checking the manifest"
        try ensure(config.runs >= 1 && config.warmup >= 0, "runs must be >= 1 and warmup >= 0, got \(config.runs), \(config.warmup)")
        let fits = Backend.forFormat(manifest.format).map(\.id).joined(separator: ", ")
        try ensure(config.backend.format == manifest.format,
                   "backend \(config.backend.id) runs \(config.backend.format) artifacts and \(manifest.file.lastPathComponent) is \(manifest.format); "
                       + "pick one of \(fits.isEmpty ? "none: the app runs no \(manifest.format)" : fits)")
        stage = "reading the sample"
        let sample = try SampleData.read(manifest)
        if sample.imageIo != nil, let image = sample.image { inputSize = [image.height, image.width] }
        thermalBefore = platform.thermalStatus()
        memoryBefore = platform.memoryMb()
        stage = "cold load"
        let cold = try await timed({ self.loadCold = $0 }) {
            try await factory.load(manifest.artifact(), manifest: manifest, backend: config.backend, strict: config.strict)
        }
        do {
            try takeDelegation(cold, config)
        } catch {
            cold.close()
            throw error
        }
        cold.close()
        stage = "warm load"
        let runner = try await timed({ self.loadWarm = $0 }) {
            try await factory.load(manifest.artifact(), manifest: manifest, backend: config.backend, strict: config.strict)
        }
        defer { runner.close() }
        try takeDelegation(runner, config)
        stage = "first inference"
        let outputs = try await timed({ self.first = $0 }) { try await runner.run(sample.feeds) }
        stage = "parity"
        parity = try parityOf(manifest, outputs, sample)
        noteMemory()
        stage = "warm-up"
        for _ in 0..<config.warmup {
            _ = try await timed({ self.warm.append($0) }) { try await runner.run(sample.feeds) }
        }
        stage = "timed runs"
        for _ in 0..<config.runs { try await timedRun(manifest, runner, sample) }
        noteMemory()
        thermalAfter = platform.thermalStatus()
    }

    private func timedRun(_ manifest: Manifest, _ runner: ModelRunner, _ sample: SampleData) async throws {
        if let io = sample.imageIo, let image = sample.image {
            _ = try await timed({ self.pre.append($0) }) { try Packing.pack(image, io) }
        }
        let outputs = try await timed({ self.times.append($0) }) { try await runner.run(sample.feeds) }
        let shown = manifest.outputs.filter { $0.role == "image" && ($0.channels == 1 || $0.channels == 3) }
        if !shown.isEmpty {
            try await timed({ self.post.append($0) }) {
                for o in shown {
                    guard let tensor = outputs[o.name] else { throw CamkitError("the artifact returned no '\(o.name)'") }
                    _ = try Packing.unpack(tensor, o)
                }
            }
        }
    }

    private func takeDelegation(_ runner: ModelRunner, _ config: BenchmarkConfig) throws {
        let d = runner.delegation
        delegation = d
        runtimeVersion = runner.runtimeVersion
        ops = runner.ops
        runnerOptions = runner.options
        let nodes = "\(d.nodesDelegated.map { String($0) } ?? "?") of \(d.nodesTotal.map { String($0) } ?? "?")"
        try ensure(!config.strict || d.fullyDelegated != false,
                   "strict: \(config.backend.id) left \(d.fallbackOps?.joined(separator: ", ") ?? "some ops") off the accelerator "
                       + "(\(nodes) nodes delegated); run with strict off (-camkitStrict 0) to measure the mixed graph")
    }

    private func parityOf(_ manifest: Manifest, _ outputs: [String: Tensor], _ sample: SampleData) throws -> [Parity]? {
        if sample.references.isEmpty { return nil }
        var out: [Parity] = []
        for io in manifest.outputs {
            guard let reference = sample.references[io.name] else { continue }
            guard let got = outputs[io.name] else {
                throw CamkitError("the artifact returned no '\(io.name)' (it returned \(outputs.keys.sorted().joined(separator: ", ")))")
            }
            let values = got.toFloats(io.quantization)
            try ensure(values.count == reference.count,
                       "output '\(io.name)' has \(values.count) values, the sample's reference \(reference.count); re-export")
            out.append(Parity(output: io.name, psnrDb: try Metrics.psnr(reference, values), maxAbs: try Metrics.maxAbs(reference, values)))
        }
        return out
    }

    private func noteMemory() {
        guard let now = platform.memoryMb() else { return }
        memoryPeak = max(memoryPeak ?? now, now)
    }

    private func timed<T>(_ record: (Double) -> Void, _ block: () async throws -> T) async rethrows -> T {
        let start = platform.nanoTime()
        let result = try await block()
        record(Double(platform.nanoTime() &- start) / 1e6)
        return result
    }

    private func build(_ argv: [String], _ error: ProfileError?) -> ProfileReport {
        var latency = times.isEmpty ? LatencyStats() : ((try? Stats.latency(times)) ?? LatencyStats())
        latency.initMs = loadCold
        latency.firstMs = first
        if !warm.isEmpty { latency.warmupMeanMs = try? Stats.mean(warm) }
        var options: [(String, String)] = [("backend", backendId), ("strict", strict ? "true" : "false")]
        if let threads { options.append(("threads", String(threads))) }
        if let backend { options.append(("compute_units", backend.computeUnits)) }
        for key in runnerOptions.keys.sorted() where !options.contains(where: { $0.0 == key }) {
            options.append((key, runnerOptions[key]!))
        }
        let peak = memoryBefore.flatMap { before in memoryPeak.map { max(0, $0 - before) } }
        return ProfileReport(
            runtime: RuntimeInfo(name: backend?.runtime, tool: platform.appName, toolGeneration: backend?.toolGeneration,
                                 version: runtimeVersion, delegate: backend?.delegate, accelerator: backend?.accelerator,
                                 options: options),
            latency: latency,
            model: ModelRef(sha256: manifest?.artifactSha256, format: manifest?.format, precision: manifest?.precision,
                            manifest: manifest?.file.lastPathComponent),
            device: platform.device(),
            argv: argv,
            delegation: delegation,
            memory: MemoryInfo(peakMb: peak),
            ops: ops,
            error: error,
            app: AppInfo(name: platform.appName, version: platform.appVersion, backend: backendId, strict: strict,
                         loadColdMs: loadCold, loadWarmMs: loadWarm, preprocessMs: median(pre), postprocessMs: median(post),
                         inputSize: inputSize, thermalBefore: thermalBefore, thermalAfter: thermalAfter,
                         fallbackOps: delegation?.fallbackOps, parity: parity))
    }

    private func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        return try? Stats.percentile(values, 0.5)
    }
}
