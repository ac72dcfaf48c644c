// Foundation / Darwin on iOS: ProcessInfo.thermalState (.nominal, .fair, .serious, .critical),
// ProcessInfo.operatingSystemVersion, uname(3) (utsname.machine: "iPhone16,1"),
// DispatchTime.uptimeNanoseconds, task_info(TASK_VM_INFO) phys_footprint (what Xcode's memory
// gauge shows).
import CamkitCore
import Darwin
import Foundation

/// What only the iPhone knows, for CamkitCore's ``Benchmark``.
final class IOSPlatform: Platform {
    /// The OS version, "17.4.1" (no patch when it is 0: "17.4").
    static var osVersion: String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return v.patchVersion == 0 ? "\(v.majorVersion).\(v.minorVersion)" : "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
    }

    /// Monotonic, not counting time asleep (mach_absolute_time).
    func nanoTime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func thermalStatus() -> String? { IOSPlatform.name(ProcessInfo.processInfo.thermalState) }

    /// `ProcessInfo.ThermalState` by its Swift name.
    static func name(_ state: ProcessInfo.ThermalState) -> String? {
        switch state {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return nil
        }
    }

    /// The model identifier ("iPhone16,1"; the simulated one in the simulator); the SoC is not
    /// public on iOS, so null rather than guessed.
    func device() -> DeviceInfo {
        DeviceInfo(model: IOSPlatform.machine(), soc: nil, os: "iOS \(IOSPlatform.osVersion)", abi: IOSPlatform.abi)
    }

    let appName = "camkit-ios"

    let appVersion: String? = Bundle.main.infoDictionary?["CFBundleShortVersionString"] as? String

    /// The app's physical footprint, MB.
    func memoryMb() -> Double? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let result = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard result == KERN_SUCCESS else { return nil }
        return Double(info.phys_footprint) / 1_048_576
    }

    private static func machine() -> String? {
        if let simulated = ProcessInfo.processInfo.environment["SIMULATOR_MODEL_IDENTIFIER"] { return simulated }
        var system = utsname()
        guard uname(&system) == 0 else { return nil }
        let name = withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return name.isEmpty ? nil : name
    }

    private static var abi: String {
        #if arch(arm64)
        return "arm64"
        #elseif arch(x86_64)
        return "x86_64"
        #else
        return "unknown"
        #endif
    }
}
