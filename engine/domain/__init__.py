"""Pure domain types and rules: offers, customers' activities and features, segments, contact
policy, the rule language and the vectoriser. No IO: everything here runs without a store."""
