package dev.camkit.core

import com.google.gson.JsonArray
import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParseException
import com.google.gson.JsonParser

/** Typed reads from Gson trees that fail with one line naming the file and the key. */
internal object Json {
    fun parse(text: String, where: String): JsonObject {
        val tree = try {
            JsonParser.parseString(text)
        } catch (e: JsonParseException) {
            throw CamkitException("$where is not valid JSON (${firstLine(e.message)}); write it again")
        }
        ensure(tree.isJsonObject) { "$where is not a JSON object" }
        return tree.asJsonObject
    }

    fun present(obj: JsonObject, key: String): JsonElement? =
        obj.get(key)?.takeUnless { it.isJsonNull }

    fun string(obj: JsonObject, key: String, where: String): String =
        stringOrNull(obj, key, where) ?: throw missing(key, "a string", where)

    fun stringOrNull(obj: JsonObject, key: String, where: String): String? {
        val v = present(obj, key) ?: return null
        ensure(v.isJsonPrimitive && v.asJsonPrimitive.isString) { "$where: '$key' must be a string, got $v" }
        return v.asString
    }

    fun int(obj: JsonObject, key: String, where: String): Int =
        intOrNull(obj, key, where) ?: throw missing(key, "an integer", where)

    fun intOrNull(obj: JsonObject, key: String, where: String): Int? {
        val v = present(obj, key) ?: return null
        ensure(v.isJsonPrimitive && v.asJsonPrimitive.isNumber) { "$where: '$key' must be an integer, got $v" }
        val d = v.asDouble
        ensure(d == Math.rint(d) && Math.abs(d) < Int.MAX_VALUE) { "$where: '$key' must be an integer, got $v" }
        return d.toInt()
    }

    fun double(obj: JsonObject, key: String, where: String): Double {
        val v = present(obj, key) ?: throw missing(key, "a number", where)
        ensure(v.isJsonPrimitive && v.asJsonPrimitive.isNumber) { "$where: '$key' must be a number, got $v" }
        return v.asDouble
    }

    fun obj(obj: JsonObject, key: String, where: String): JsonObject =
        objOrNull(obj, key, where) ?: throw missing(key, "an object", where)

    fun objOrNull(obj: JsonObject, key: String, where: String): JsonObject? {
        val v = present(obj, key) ?: return null
        ensure(v.isJsonObject) { "$where: '$key' must be an object, got $v" }
        return v.asJsonObject
    }

    fun array(obj: JsonObject, key: String, where: String): JsonArray =
        arrayOrNull(obj, key, where) ?: throw missing(key, "a list", where)

    fun arrayOrNull(obj: JsonObject, key: String, where: String): JsonArray? {
        val v = present(obj, key) ?: return null
        ensure(v.isJsonArray) { "$where: '$key' must be a list, got $v" }
        return v.asJsonArray
    }

    /** A list of integers; JSON null entries (dynamic dimensions) become [nullAs]. */
    fun ints(obj: JsonObject, key: String, where: String, nullAs: Int? = null): List<Int> =
        array(obj, key, where).map {
            if (it.isJsonNull && nullAs != null) nullAs
            else {
                ensure(it.isJsonPrimitive && it.asJsonPrimitive.isNumber) { "$where: '$key' must list integers, got $it" }
                it.asInt
            }
        }

    fun strings(obj: JsonObject, key: String, where: String): List<String> =
        array(obj, key, where).map {
            ensure(it.isJsonPrimitive && it.asJsonPrimitive.isString) { "$where: '$key' must list strings, got $it" }
            it.asString
        }

    private fun missing(key: String, what: String, where: String) =
        CamkitException("$where has no '$key' ($what); re-export the artifact with camkit")

    fun firstLine(text: String?): String = text?.lineSequence()?.firstOrNull()?.trim() ?: "no message"
}
