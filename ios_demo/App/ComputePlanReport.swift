// Core ML's compute plan, as the iOS 17.4+ SDK declares it: MLComputePlan.load(contentsOf:configuration:)
// async, .modelStructure (MLModelStructure.program: functions["main"].block.operations, each
// operatorName, outputs, blocks), deviceUsage(for:) -> MLComputePlan.DeviceUsage? (preferred,
// supported: MLComputeDevice .cpu / .gpu / .neuralEngine) and estimatedCost(of:) -> Cost? (weight).
import CamkitCore
import CoreML
import Foundation

/// Where Core ML *plans* to run each op of a compiled model for a configuration: a plan, read
/// before any prediction, not a measurement. The walk and the names are camkit's macOS
/// profiler's (toolkit/profilers/macos.py `plan_records`); CamkitCore's ``ComputePlan`` turns
/// the ops into the result's rows, counts and strict refusals.
enum ComputePlanReport {
    /// The ops of the main function of the ML program at `compiled` (an .mlmodelc), nested
    /// blocks included, in program order.
    static func plannedOps(_ compiled: URL, _ configuration: MLModelConfiguration) async throws -> [PlannedOp] {
        let plan = try await MLComputePlan.load(contentsOf: compiled, configuration: configuration)
        guard case let .program(program) = plan.modelStructure else {
            throw CamkitError("the compute plan has no ML program (a neural network model?); re-export with camkit export --format coreml")
        }
        guard let main = program.functions["main"] else {
            throw CamkitError("the Core ML program has no 'main' function (it has \(program.functions.keys.sorted().joined(separator: ", ")))")
        }
        var ops: [PlannedOp] = []
        func walk(_ block: MLModelStructure.Program.Block) {
            for op in block.operations {
                let usage = plan.deviceUsage(for: op)
                ops.append(PlannedOp(operatorName: op.operatorName, name: op.outputs.first?.name,
                                     preferred: usage.map { deviceName($0.preferred) },
                                     supported: usage.map { $0.supported.map { deviceName($0) } },
                                     cost: plan.estimatedCost(of: op)?.weight))
                for inner in op.blocks { walk(inner) }  // loops and conditionals; camkit's models have none
            }
        }
        walk(main.block)
        return ops
    }

    /// "CPU", "GPU" or "NeuralEngine" (the names of camkit's profile schema).
    static func deviceName(_ device: MLComputeDevice) -> String {
        switch device {
        case .cpu: return "CPU"
        case .gpu: return "GPU"
        case .neuralEngine: return "NeuralEngine"
        @unknown default: return "\(device)"
        }
    }
}
