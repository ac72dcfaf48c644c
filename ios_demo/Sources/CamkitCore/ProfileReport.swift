import Foundation

/// The phone the run was on (the profile result's `device`).
public struct DeviceInfo: Equatable {
    public let model: String?
    public let soc: String?
    public let os: String?
    public let abi: String?

    public init(model: String?, soc: String?, os: String?, abi: String?) {
        self.model = model
        self.soc = soc
        self.os = os
        self.abi = abi
    }
}

/// What ran the model (`runtime`); ``options`` values are strings.
public struct RuntimeInfo: Equatable {
    public var name: String?
    public var tool: String?
    public var toolGeneration: String?
    public var version: String?
    public var delegate: String?
    public var accelerator: String?
    /// Written in key order.
    public var options: [(String, String)]

    public static func == (a: RuntimeInfo, b: RuntimeInfo) -> Bool {
        let sameOptions = a.options.map { "\($0.0)=\($0.1)" } == b.options.map { "\($0.0)=\($0.1)" }
        let sameNames = [a.name, a.tool, a.toolGeneration, a.version] == [b.name, b.tool, b.toolGeneration, b.version]
        return sameOptions && sameNames && a.delegate == b.delegate && a.accelerator == b.accelerator
    }

    /// The option `key`, or nil.
    public func option(_ key: String) -> String? { options.first { $0.0 == key }?.1 }
}

/// Which artifact ran (`model`): its sha256 from the manifest, format, precision, manifest file name.
public struct ModelRef: Equatable {
    public let sha256: String?
    public let format: String?
    public let precision: String?
    public let manifest: String?
}

/// Memory in MB (`memory`); nil: not measured.
public struct MemoryInfo: Equatable {
    public var initMb: Double? = nil
    public var overallMb: Double? = nil
    public var peakMb: Double? = nil
}

/// Why a run gave no (or partial) numbers (`error`): ``kind`` tool_error, crashed, truncated or empty.
public struct ProfileError: Equatable {
    public let kind: String
    public let message: String
    public var lastLine: String? = nil
}

/// One output on the phone vs the sample's reference (`app.parity[]`); ``psnrDb`` +infinity
/// when identical.
public struct Parity: Equatable {
    public let output: String
    public let psnrDb: Double
    public let maxAbs: Double
    public var reference: String = "sample"
}

/// What the app measured beside the latency (`app`).
public struct AppInfo: Equatable {
    public let name: String
    public let version: String?
    public let backend: String
    public let strict: Bool
    public var loadColdMs: Double? = nil
    public var loadWarmMs: Double? = nil
    public var preprocessMs: Double? = nil
    public var postprocessMs: Double? = nil
    /// The sample input's [H, W].
    public var inputSize: [Int]? = nil
    public var thermalBefore: String? = nil
    public var thermalAfter: String? = nil
    public var fallbackOps: [String]? = nil
    /// Nil: not measured.
    public var parity: [Parity]? = nil
}

/// One benchmark run as camkit's profile result (schema 2); ``ProfileJson`` writes it.
public struct ProfileReport: Equatable {
    public var runtime: RuntimeInfo
    public var latency: LatencyStats
    public var model: ModelRef
    public var device: DeviceInfo?
    public var argv: [String]?
    public var delegation: Delegation?
    public var memory: MemoryInfo
    /// The `ops` table: Core ML's planned placement per op (`compute_plan` rows), or empty.
    public var ops: [OpRow]
    public var error: ProfileError?
    public var app: AppInfo
    public var kind: String = "measured"
}
