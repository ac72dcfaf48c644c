import Foundation

/// Where the app runs an artifact: ``id`` (as `-camkitBackend` names it), the artifact
/// ``format`` it takes, the ``runtime`` and the ``accelerator`` it targets. Each is one of
/// Core ML's compute-unit settings (`MLComputeUnits`, named in ``computeUnits`` as camkit's
/// host side names them: toolkit/profilers/ios_app.py `BACKENDS`).
public enum Backend: String, CaseIterable {
    case coremlAll = "coreml-all"
    case coremlCpu = "coreml-cpu"
    case coremlGpu = "coreml-gpu"
    case coremlAne = "coreml-ane"

    /// The id: "coreml-all", "coreml-cpu", "coreml-gpu", "coreml-ane".
    public var id: String { rawValue }

    /// The artifact format every backend takes.
    public var format: String { "coreml" }

    /// The profile result's `runtime.name`.
    public var runtime: String { "coreml" }

    /// The profile result's `runtime.accelerator`: nil for "all" (Core ML picks per op).
    public var accelerator: String? {
        switch self {
        case .coremlAll: return nil
        case .coremlCpu: return "cpu"
        case .coremlGpu: return "gpu"
        case .coremlAne: return "npu"
        }
    }

    /// `MLComputeUnits` by its Swift name: all, cpuOnly, cpuAndGPU, cpuAndNeuralEngine.
    public var computeUnits: String {
        switch self {
        case .coremlAll: return "all"
        case .coremlCpu: return "cpuOnly"
        case .coremlGpu: return "cpuAndGPU"
        case .coremlAne: return "cpuAndNeuralEngine"
        }
    }

    /// The devices the compute units let Core ML use (MLComputePlan's names).
    public var devices: [String] {
        switch self {
        case .coremlAll: return ["CPU", "GPU", "NeuralEngine"]
        case .coremlCpu: return ["CPU"]
        case .coremlGpu: return ["CPU", "GPU"]
        case .coremlAne: return ["CPU", "NeuralEngine"]
        }
    }

    /// The device an op is counted as "delegated" on: an op planned elsewhere is a fallback
    /// (for "all", as camkit's macOS profiler counts it: an op off the Neural Engine).
    public var preferredDevice: String {
        switch self {
        case .coremlAll, .coremlAne: return "NeuralEngine"
        case .coremlCpu: return "CPU"
        case .coremlGpu: return "GPU"
        }
    }

    /// The device strict mode requires of every op; nil for "all", where Core ML chooses.
    public var strictDevice: String? { self == .coremlAll ? nil : preferredDevice }

    /// The profile result's `runtime.delegate`: Core ML has no delegate (the compute units are
    /// in `runtime.options`, the planned placement in `ops` and `delegation`).
    public var delegate: String? { nil }

    /// The profile result's `runtime.tool_generation`: none for Core ML.
    public var toolGeneration: String? { nil }

    /// The backend called `id`; an unknown id lists the known ones.
    public static func of(_ id: String) throws -> Backend {
        guard let backend = Backend(rawValue: id) else {
            throw CamkitError("unknown backend '\(id)'; pick one of \(allCases.map(\.id).joined(separator: ", "))")
        }
        return backend
    }

    /// The backends that run artifacts of `format`.
    public static func forFormat(_ format: String) -> [Backend] { allCases.filter { $0.format == format } }
}

/// How much of the graph the backend took: ``delegate``, nodes delegated of ``nodesTotal``,
/// ``partitions``, ``fullyDelegated``, and ``fallbackOps``: the ops left off the accelerator.
/// Nil: the runtime did not say. For Core ML these are the *planned* placement
/// (``ComputePlan``), not a measurement.
public struct Delegation: Equatable {
    public let delegate: String?
    public let nodesDelegated: Int?
    public let nodesTotal: Int?
    public let partitions: Int?
    public let fullyDelegated: Bool?
    public let fallbackOps: [String]?

    public init(delegate: String?, nodesDelegated: Int?, nodesTotal: Int?, partitions: Int?,
                fullyDelegated: Bool?, fallbackOps: [String]?) {
        self.delegate = delegate
        self.nodesDelegated = nodesDelegated
        self.nodesTotal = nodesTotal
        self.partitions = partitions
        self.fullyDelegated = fullyDelegated
        self.fallbackOps = fallbackOps
    }

    /// Nothing known.
    public static let unknown = Delegation(delegate: nil, nodesDelegated: nil, nodesTotal: nil, partitions: nil,
                                           fullyDelegated: nil, fallbackOps: nil)
}

/// A loaded artifact on one backend (the app wraps a Core ML `MLModel`). Async, unlike the
/// Kotlin core's: Core ML predicts asynchronously and the app must not block its main actor.
public protocol ModelRunner: AnyObject {
    /// What the backend took of the graph.
    var delegation: Delegation { get }

    /// The runtime's version, or nil.
    var runtimeVersion: String? { get }

    /// Per-op rows for the profile result's `ops` (Core ML: its compute plan); empty when none.
    var ops: [OpRow] { get }

    /// Runtime options to record beside the backend's (values are strings).
    var options: [String: String] { get }

    /// One inference: tensors by input name in, tensors by output name out.
    func run(_ inputs: [String: Tensor]) async throws -> [String: Tensor]

    /// Releases the runtime's resources.
    func close()
}

extension ModelRunner {
    public var ops: [OpRow] { [] }
    public var options: [String: String] { [:] }
    public func close() {}
}

/// Loads artifacts (the app implements it with Core ML).
public protocol RunnerFactory {
    /// `artifact` on `backend`. With `strict`, a backend that cannot take the whole graph
    /// throws ``CamkitError`` instead of falling back.
    func load(_ artifact: URL, manifest: Manifest, backend: Backend, strict: Bool) async throws -> ModelRunner
}

/// One row of the profile result's `ops` table (toolkit/profilers/schema.py `OpRow`); only the
/// fields the app fills are here, ``ProfileJson`` writes the others as null.
public struct OpRow: Equatable {
    /// "compute_plan" for Core ML's planned placement.
    public let table: String
    /// The operator (an ML program op type, e.g. "conv").
    public let nodeType: String
    /// The op's name (its first output's name), or nil.
    public let name: String?
    /// "CPU", "GPU" or "NeuralEngine": the preferred device; nil when Core ML gave none.
    public let placement: String?
    /// The devices that can run the op; nil when Core ML gave none.
    public let supportedOn: [String]?
    /// The backend's devices the op cannot run on; nil when Core ML gave none.
    public let unsupportedOn: [String]?
    /// Core ML's estimated share of the model's work, 0...1, or nil.
    public let costFraction: Double?

    public init(table: String, nodeType: String, name: String?, placement: String?, supportedOn: [String]?,
                unsupportedOn: [String]?, costFraction: Double?) {
        self.table = table
        self.nodeType = nodeType
        self.name = name
        self.placement = placement
        self.supportedOn = supportedOn
        self.unsupportedOn = unsupportedOn
        self.costFraction = costFraction
    }
}
