package leadsflow.examples;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import leadsflow.Phone;

/**
 * FlowLeadsService#submitEncryptedPhone on the repository: the phone arrives transport-encrypted (WeChat
 * encryptedData/iv, or a client envelope); it is opened in memory, checked, and written through the same path as
 * any lead (LeadsServiceExample: legacy first during the dual-write period, leads_flow alone after cutover). The
 * transport ciphertext is never stored: leads_flow gets the e1 token, blind index and mask submitLead makes.
 */
public final class FlowLeadsServiceExample {
    /** Opens the transport envelope; returns the phone as the user typed it. Never log either. */
    @FunctionalInterface
    public interface TransportDecryptor {
        String open(String encryptedData, String iv);
    }

    private final LeadsServiceExample leads;
    private final TransportDecryptor transport;

    public FlowLeadsServiceExample(LeadsServiceExample leads, TransportDecryptor transport) {
        this.leads = leads;
        this.transport = transport;
    }

    /** Returns the lead id (an existing lead of the same phone, or the new one). */
    public long submitEncryptedPhone(String encryptedData, String iv, Map<String, Object> identity) throws SQLException {
        String phone = transport.open(encryptedData, iv);
        Phone.normalize(phone); // Phone.InvalidPhone: the caller's 400, the message holds no number
        Map<String, Object> form = new LinkedHashMap<>(identity); // unionId, from_channel, window_url, ...
        form.put("phone", phone);
        form.putIfAbsent("leads_type", 0); // a normal lead unless the request says otherwise (NULL is rejected)
        return leads.leadsSubmit(form); // dedupe by blind index, then insert + submitLead
    }
}
