package dev.camkit.demo.runners

import dev.camkit.core.Delegation
import org.json.JSONArray

/**
 * Reads ONNX Runtime's JSON profile (a Chrome trace: one event per node run, `cat` "Node",
 * `args.provider` the execution provider that ran it, `args.op_name` its op type) into the
 * delegation a result reports. A compiling provider (NNAPI, QNN) shows each fused partition as
 * one node, so it yields partitions and no node counts; XNNPACK runs single nodes, so it
 * yields delegated and total node counts.
 */
internal object OrtProfile {
    private const val CPU_EP = "CPUExecutionProvider"

    fun delegation(json: String, provider: Provider): Delegation {
        val events = JSONArray(json)
        val nodes = LinkedHashMap<String, Pair<String, String>>()  // node -> (provider, op type)
        for (i in 0 until events.length()) {
            val event = events.optJSONObject(i) ?: continue
            if (event.optString("cat") != "Node") continue
            val args = event.optJSONObject("args") ?: continue
            val ep = args.optString("provider")
            if (ep.isEmpty()) continue
            val node = event.optString("name")
                .removeSuffix("_kernel_time").removeSuffix("_fence_before").removeSuffix("_fence_after")
            nodes[node] = ep to args.optString("op_name")
        }
        if (nodes.isEmpty()) return Delegation(provider.delegate, null, null, null, null, null)
        val onProvider = nodes.values.count { it.first == provider.epName }
        val fallback = nodes.values.filter { it.first == CPU_EP }.map { it.second }.distinct().sorted()
        return Delegation(
            delegate = provider.delegate,
            nodesDelegated = if (provider.fuses) null else onProvider,
            nodesTotal = if (provider.fuses) null else nodes.size,
            partitions = if (provider.fuses) onProvider else null,
            fullyDelegated = fallback.isEmpty() && onProvider > 0,
            fallbackOps = fallback,
        )
    }
}
