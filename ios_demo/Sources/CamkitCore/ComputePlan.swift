import Foundation

/// One operation of Core ML's compute plan (`MLComputePlan`, iOS 17.4+), as plain values: the
/// app reads them from Core ML (App/ComputePlanReport.swift), this core turns them into the
/// profile result's rows and counts, so that part is tested without an iPhone. The same walk
/// and the same names as camkit's macOS profiler (toolkit/profilers/macos.py `plan_records`).
public struct PlannedOp: Equatable {
    /// The ML program operator, e.g. "conv" or "ios17.conv".
    public let operatorName: String
    /// Its first output's name (an ML program op has no name of its own), or nil.
    public let name: String?
    /// The preferred device: "CPU", "GPU" or "NeuralEngine"; nil when Core ML gave no usage
    /// (constants).
    public let preferred: String?
    /// The devices that can run it; nil when Core ML gave no usage.
    public let supported: [String]?
    /// Core ML's estimated share of the model's work (0...1), or nil.
    public let cost: Double?

    public init(operatorName: String, name: String?, preferred: String?, supported: [String]?, cost: Double?) {
        self.operatorName = operatorName
        self.name = name
        self.preferred = preferred
        self.supported = supported
        self.cost = cost
    }
}

/// What a compute plan says, for one backend. Everything here is *planned* placement: where
/// Core ML intends to run each op, not a measurement of where it ran.
public enum ComputePlan {
    /// The note recorded in `runtime.options["compute_plan"]` when the plan was read.
    public static let plannedNote = "planned placement (MLComputePlan, iOS 17.4+): where Core ML intends to run each op"

    /// `ops` as the profile result's `compute_plan` rows (macos.py `plan_rows`).
    public static func rows(_ ops: [PlannedOp], _ backend: Backend) -> [OpRow] {
        ops.map { op in
            OpRow(table: "compute_plan", nodeType: op.operatorName, name: op.name, placement: op.preferred,
                  supportedOn: op.supported,
                  unsupportedOn: op.supported.map { supported in backend.devices.filter { !supported.contains($0) } },
                  costFraction: op.cost)
        }
    }

    /// Ops per preferred device; ops without a placement (constants) are not counted.
    public static func counts(_ ops: [PlannedOp]) -> [String: Int] {
        var out: [String: Int] = [:]
        for op in ops { if let device = op.preferred { out[device, default: 0] += 1 } }
        return out
    }

    /// The placed ops off the backend's preferred device, in plan order.
    public static func offPreferred(_ ops: [PlannedOp], _ backend: Backend) -> [PlannedOp] {
        ops.filter { $0.preferred != nil && $0.preferred != backend.preferredDevice }
    }

    /// The plan as the profile result's `delegation`: placed ops on the preferred device of
    /// all placed ops; `fully_delegated` only where the backend pins a device (nil for "all",
    /// where Core ML chooses); fallback ops: the operator names off it, each once, in order.
    public static func delegation(_ ops: [PlannedOp], _ backend: Backend) -> Delegation {
        let placed = ops.filter { $0.preferred != nil }
        let off = offPreferred(ops, backend)
        var fallback: [String] = []
        for op in off where !fallback.contains(op.operatorName) { fallback.append(op.operatorName) }
        return Delegation(
            delegate: backend.strictDevice == nil || backend == .coremlCpu ? nil : backend.preferredDevice,
            nodesDelegated: placed.count - off.count, nodesTotal: placed.count, partitions: nil,
            fullyDelegated: backend.strictDevice == nil ? nil : off.isEmpty, fallbackOps: fallback)
    }

    /// Why strict mode refuses `ops` on `backend` (an op planned off the device the backend
    /// asks for), or nil when it does not.
    public static func strictRefusal(_ ops: [PlannedOp], _ backend: Backend) -> String? {
        guard let device = backend.strictDevice else { return nil }
        let off = ops.filter { $0.preferred != nil && $0.preferred != device }
        guard !off.isEmpty else { return nil }
        let placed = ops.filter { $0.preferred != nil }.count
        let named = off.prefix(5).map { "\($0.operatorName) \($0.name ?? "?") on \($0.preferred!)" }.joined(separator: ", ")
        let more = off.count > 5 ? " and \(off.count - 5) more" : ""
        return "strict: Core ML plans \(off.count) of \(placed) ops of \(backend.id) off the \(device) (\(named)\(more)); "
            + "run with strict 0 to measure the mixed graph"
    }
}
